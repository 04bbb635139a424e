"""Running ``manage.py`` commands as separate processes, configured like an operator would:
through environment variables only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Group timeouts that make a consumer join Tansu in about 3 s instead of the default 10+ s. A batch
# may take up to 30 s between polls: on a loaded machine a batch into mongomock-ng took over 10 s,
# and a member past its poll interval is evicted, which made a test read its stream several times.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 30000}
# The reliability suite's children leave a dead member's partitions after 3 s instead of 6 s, so
# five SIGKILLs and restarts fit in CI; a batch on litemongo takes far less than max.poll.interval.
QUICK_GROUP = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 300, "max.poll.interval.ms": 10000}


def real_mongo_uri() -> str | None:
    """MONGO_URI when it names a real MongoDB server (the tests then run against it), else None."""
    uri = os.environ.get("MONGO_URI", "")
    return uri if uri.startswith(("mongodb://", "mongodb+srv://")) else None


def quick_group_env() -> dict[str, str]:
    return {"KAFKA_CONSUMER_OPTIONS": json.dumps(QUICK_GROUP)}


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
        "ALERTS_TOPIC": settings.ALERTS_TOPIC,
        "ALERT_REPORTS_TOPIC": settings.ALERT_REPORTS_TOPIC,
        "DEAD_LETTER_TOPIC": settings.DEAD_LETTER_TOPIC,
        "MONGO_URI": real_mongo_uri() or f"litemongo://{store}",
        "MONGO_DB": database["name"],
        "CONSUMER_BATCH_WAIT_SECONDS": "0.2",
        "DJANGO_SQLITE_PATH": str(store / "django.sqlite3"),
        "HISTORY_ARCHIVE_PATH": str(store / "archive"),
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
