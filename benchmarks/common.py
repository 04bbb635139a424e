"""What every benchmark shares: Django set-up, realistic payloads, the result table, the machine."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Group timeouts that make a consumer join Tansu in about 3 s instead of 10+ s (as in the tests).
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 60000}
# The simulated fleet starts here (2026-01-01T00:00:00Z): in the past, within the validation window.
FLEET_START_MS = 1_767_225_600_000


@dataclass(frozen=True)
class Result:
    """One figure with its same-run reference. ``ratio`` is figure / reference unless given."""

    benchmark: str
    figure: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: str = ""
    passed: bool | None = None  # None: no target, informational
    ratio: float | None = None
    note: str = ""

    @property
    def effective_ratio(self) -> float | None:
        if self.ratio is not None:
            return self.ratio
        if self.reference_value:
            return self.value / self.reference_value
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "figure": self.figure,
            "value": self.value,
            "unit": self.unit,
            "reference": self.reference,
            "reference_value": self.reference_value,
            "ratio": self.effective_ratio,
            "target": self.target,
            "passed": self.passed,
            "note": self.note,
        }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(results: Sequence[Result]) -> str:
    """A Markdown table: figure, reference, ratio, target and PASS/FAIL."""
    rows = [("benchmark", "figure", "value", "reference", "ref. value", "ratio", "target", "result")]
    for r in results:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[r.passed]
        rows.append(
            (
                r.benchmark,
                r.figure + (f" ({r.note})" if r.note else ""),
                f"{_number(r.value)} {r.unit}".strip(),
                r.reference or "-",
                _number(r.reference_value),
                "-" if r.effective_ratio is None else f"{r.effective_ratio:.2f}x",
                r.target or "-",
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine_info() -> dict[str, str]:
    """What the figures were taken on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    if shutil.which("free"):
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": model,
        "memory": memory,
        "python": platform.python_version(),
        "load average at start": load,
    }


def print_report(results: Sequence[Result], out: Any = None) -> None:
    out = out or sys.stdout
    print("", file=out)
    for key, value in machine_info().items():
        print(f"{key}: {value}", file=out)
    print("", file=out)
    print(format_table(results), file=out)


# --- Django -----------------------------------------------------------------------------------------


def setup_django() -> None:
    """Configure Django from ``telemetry_site.settings`` with in-process defaults (idempotent).

    The environment decides as usual; only what is unset gets a benchmark default: the in-process
    engine (mongomock-ng) and a temporary run directory, so a benchmark never touches ``var/``.
    """
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemetry_site.settings")
    os.environ.setdefault("MONGO_URI", "mongomock://")
    os.environ.setdefault("C40_RUN_DIR", tempfile.mkdtemp(prefix="c40-bench-"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def telemetry_services() -> list[str]:
    """Every consumer service that reads telemetry into the database (``CODEC == "telemetry"``), in
    settings order. The archiver writes files, not documents: ``benchmarks/archive.py`` measures it."""
    from django.conf import settings

    return [
        name
        for name, definition in settings.TELEMETRY_SERVICES.items()
        if definition["CODEC"] == "telemetry" and name not in FILE_SERVICES | PLAN_SERVICES
    ]


# Services whose state is files (the Parquet archiver), left out of the database benchmarks.
FILE_SERVICES = frozenset({"archive"})
# Services that judge readings against plans or rules kept in Django's SQL tables (maintenance's
# plans, alerts' rules): every child process here would need a migrated SQL database. Their crash and
# replay tests are tests/maintenance/test_events_broker.py and tests/alerts/test_consumer_broker.py.
PLAN_SERVICES = frozenset({"maintenance", "alerts"})


def avro_settings(registry_url: str | None = None) -> dict[str, Any]:
    """Settings of Avro codecs sharing one in-process ``mock://`` registry."""
    from devstack.stand_ins import mock_registry_settings

    return mock_registry_settings(registry_url or f"mock://bench-{uuid.uuid4().hex}")


def database_settings(engine: str | None, *, counted: bool, name: str | None = None) -> dict[str, Any]:
    """``TELEMETRY_DATABASES`` of a fresh database: ``engine`` (a URI) counted or not, or counted only."""
    name = name or f"c40_bench_{uuid.uuid4().hex[:10]}"
    if counted:
        backend = {"BACKEND": "benchmarks.counting.counting_database", "OPTIONS": {"engine": engine, "name": name}}
    else:
        backend = {"BACKEND": "telemetry_site.databases.open_database", "OPTIONS": {"uri": engine, "name": name}}
    return {"TELEMETRY_DATABASES": {"default": backend}}


# --- payloads ---------------------------------------------------------------------------------------


def fleet_records(count: int, machines: int = 200, seed: int = 1, step_seconds: float = 60.0) -> list[dict]:
    """``count`` telemetry records of a simulated fleet, in the order the boxes send them."""
    from devstack.fleet import TELEMETRY
    from devstack.simulator import FleetSimulator

    simulator = FleetSimulator(machines=machines, seed=seed, start_ms=FLEET_START_MS, step_seconds=step_seconds)
    records: list[dict] = []
    for event in simulator.events():
        if event.kind == TELEMETRY:
            records.append(event.value)  # type: ignore[arg-type]
            if len(records) >= count:
                break
    return records


# --- timing and processes ---------------------------------------------------------------------------


def best_rate(operation: Callable[[], int], repeats: int) -> float:
    """The best of ``repeats`` runs of ``operation`` (which returns how many items it did), items/s."""
    best = 0.0
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        items = operation()
        best = max(best, items / (time.perf_counter() - started))
    return best


def rss_kib(pid: int | None = None) -> int:
    """Resident memory (VmRSS) of a process, KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def embedded_broker() -> Iterator[Any]:
    """Tansu on a free port for the duration of a benchmark."""
    from devstack.embedded import start_broker

    broker = start_broker(log_path=None)
    try:
        yield broker
    finally:
        broker.stop()


def kafka_settings(bootstrap_servers: str) -> dict[str, Any]:
    return {
        "TELEMETRY_KAFKA": {
            "default": {
                "BACKEND": "stream.kafka.KafkaClientFactory",
                "OPTIONS": {"common": {"bootstrap.servers": bootstrap_servers}, "consumer": FAST_GROUP},
            }
        }
    }


def produce_encoded(producer: Any, topic: str, payloads: Sequence[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` pairs and wait until all are delivered."""
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"some benchmark messages to {topic!r} were not delivered")


def command_line(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines, not a table")
    return parser


def emit(results: Sequence[Result], as_json: bool) -> None:
    if as_json:
        import json

        for result in results:
            print(json.dumps(result.as_dict()))
    else:
        print_report(results)


def feed_topic(factory: Any, codec: Any, topic: str, messages: int, pool: int = 20_000) -> None:
    """Produce ``messages`` simulated telemetry messages to ``topic``: a pool of ``pool`` records of
    the fleet, replayed with timestamps shifted past the previous round, so every message is new."""
    records = fleet_records(min(messages, pool))
    span = records[-1]["timestamp"] - records[0]["timestamp"] + 60_000
    producer = factory.producer(**{"linger.ms": 50})
    sent, shift = 0, 0
    while sent < messages:
        chunk = []
        for record in records[: messages - sent]:
            value = codec.encode({**record, "timestamp": record["timestamp"] + shift} if shift else record)
            chunk.append((record["identifier"].encode(), value))
        produce_encoded(producer, topic, chunk)
        sent += len(chunk)
        shift += span


@contextlib.contextmanager
def avro_topic(messages: int, partitions: int) -> Iterator[dict[str, Any]]:
    """The broker, a topic of ``partitions`` partitions holding ``messages`` Avro messages, and what a
    worker process needs to read it (bootstrap servers, registry URL, schema id)."""
    from django.test.utils import override_settings

    from devstack.embedded import create_topics
    from telemetry_site import backends

    topic = f"bench-telemetry-{uuid.uuid4().hex[:8]}"
    registry = f"mock://bench-{uuid.uuid4().hex}"
    with (
        embedded_broker() as broker,
        override_settings(**kafka_settings(broker.bootstrap_servers), **avro_settings(registry)),
    ):
        factory = backends.kafka["default"]
        create_topics(factory.admin(), {topic: partitions, f"{topic}-deadletter": 1})
        codec = backends.codecs["telemetry"]
        schema_id = codec.schema_id()
        feed_topic(factory, codec, topic, messages)
        yield {"topic": topic, "bootstrap": broker.bootstrap_servers, "registry": registry, "schema_id": schema_id}
