"""The README's run command starts a working stack and stops it leaving no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from telemetry_site.codecs import JsonCodec
from telemetry_site.embedded import free_port
from telemetry_site.kafka import KafkaClientFactory
from tests.factories import T0, produce, telemetry
from tests.processes import ROOT

pytestmark = pytest.mark.broker


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def get_json(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_run_embedded_serves_what_is_produced_and_stops_cleanly(tmp_path):
    kafka_port, web_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "C40_RUN_DIR": str(tmp_path / "run"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "KAFKA_CONSUMER_OPTIONS": json.dumps({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}),
        "CONSUMER_BATCH_WAIT_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    stack = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_embedded",
            "--web",
            f"127.0.0.1:{web_port}",
            "--partitions",
            "2",
            "--machines",
            "3",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    descendants: list[int] = []
    try:
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 60
        banner = []
        for line in stack.stdout:  # the banner is printed once the web server answers
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        login = next(line for line in banner if "login" in line)
        password, token = login.split("admin / ")[1].split()[0], login.split("API token: ")[1].strip()
        assert password and len(token) == 40
        assert get_json(f"{base}/ready")["status"] == "ready"
        descendants = children_of(stack.pid)
        assert len(descendants) >= 3  # broker, a consumer per service, web

        factory = KafkaClientFactory({"bootstrap.servers": f"127.0.0.1:{kafka_port}"})
        records = [telemetry(f"SIM{i}", T0 + i) for i in range(5)]
        produce(factory.producer(), "data.c40.equipment.enriched", JsonCodec("c40_enriched.avsc"), records)
        seen: set[str] = set()
        while time.monotonic() < deadline + 120 and len(seen) < 8:
            seen = {m["identifier"] for m in get_json(f"{base}/api/v1/current/", token)["results"]}
            time.sleep(0.5)
        # Our five machines, and the three of the fleet simulator the stack started.
        assert {f"SIM{i}" for i in range(5)} < seen
        assert len(seen) == 8
        # Every consumer serves its metrics on the port the banner printed, and the web server its own.
        metrics = {line.split()[1]: line.split()[2] for line in banner if line.startswith("  metrics ")}
        assert set(metrics) == {"web", "current", "history", "usage", "registry", "archive"}
        with urllib.request.urlopen(metrics["current"], timeout=5) as response:
            assert 'c40_consumer_messages_processed_total{partition="' in response.read().decode()
        # The archiver runs too: our five positions reach the Parquet archive under the run folder.
        archived = tmp_path / "run" / "archive" / "positions" / "date=2025-11-24"
        while time.monotonic() < deadline + 150 and not list(archived.glob("*.parquet")):
            time.sleep(0.5)
        assert list(archived.glob("*.parquet")), "".join(banner)
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=60)
    assert stack.returncode == 0, "".join(banner) + output
    assert "Stopped." in output
    assert [pid for pid in descendants if is_alive(pid)] == []


def is_alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
