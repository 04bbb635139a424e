"""Running ``manage.py`` commands as separate processes, configured like an operator would:
through environment variables only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import FAST_GROUP, real_mongo_uri

ROOT = Path(__file__).resolve().parents[1]


def process_env(settings: Any, store: Path, **extra: str) -> dict[str, str]:
    """Environment of a child process that sees this test's broker, topics, groups and store.

    The child has no schema registry (``mock://`` lives in one process), so it uses the JSON codec;
    its store is litemongo under ``store`` (shared between processes), or the real MongoDB.
    """
    factory_options = settings.TELEMETRY_KAFKA["default"]["OPTIONS"]
    database = settings.TELEMETRY_DATABASES["default"]["OPTIONS"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(store)),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "telemetry_site.settings",
        "KAFKA_BOOTSTRAP_SERVERS": factory_options["common"]["bootstrap.servers"],
        "KAFKA_CONSUMER_OPTIONS": json.dumps(FAST_GROUP),
        "TELEMETRY_CODEC": "json",
        "TELEMETRY_TOPIC": settings.TELEMETRY_TOPIC,
        "REGISTRY_TOPIC": settings.REGISTRY_TOPIC,
        "USAGE_TOPIC": settings.USAGE_TOPIC,
        "DEAD_LETTER_TOPIC": settings.DEAD_LETTER_TOPIC,
        "MONGO_URI": real_mongo_uri() or f"litemongo://{store}",
        "MONGO_DB": database["name"],
        "CONSUMER_BATCH_WAIT_SECONDS": "0.2",
        "DJANGO_SQLITE_PATH": str(store / "django.sqlite3"),
    }
    for name, definition in settings.TELEMETRY_SERVICES.items():
        env[f"{name.upper()}_GROUP_ID"] = definition["GROUP_ID"]
    env.update(extra)
    return env


def start_command(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
