"""Shared tools of the reliability suite (docs/RELIABILITY.md).

- ``SNAPSHOTS``: per telemetry service, the "final state" that a faulty run must reproduce exactly.
- ``reference_snapshot``: that state after an uninterrupted run of the service's own handler.
- ``fleet_stream``: a deterministic stream with late and duplicated messages.
- ``ConsumerProcess``: ``manage.py consume_equipment_telemetry`` as a child process, logging to a file.
- offsets: what each partition received, and what a group committed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from tests.factories import telemetry
from tests.processes import ROOT

PARTITIONS = 4
HOUR_MS = 3_600_000


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# The in-process engines (mongomock-ng, litemongo) check a unique index by scanning the collection,
# so history's inserts get slower as positions accumulate (2,000 positions: ~45 s in mongomock-ng).
# Its streams are scaled down in CI; a real MongoDB has no such cost.
CI_SCALE = {"history": 0.25, "usage": 0.25}


def ci_size(service: str, messages: int) -> int:
    return max(100, int(messages * CI_SCALE.get(service, 1.0)))


# --- final state of each service -------------------------------------------------------------------


def snapshot_current(database: Any) -> dict[str, dict]:
    """Every machine's stored state, as the API would serve it."""
    return {document["_id"]: document for document in database.current_state.find()}


def snapshot_history(database: Any) -> list[tuple]:
    """Every stored position, as a sorted list: a double insert would show as a repeated entry."""
    return sorted(
        (
            doc["identifier"],
            doc["timestamp"],
            doc["latitude"],
            doc["longitude"],
            doc.get("address"),
            tuple(doc.get("points_of_interest") or ()),
            doc.get("base"),
        )
        for doc in database.positions.find({}, {"_id": 0, "event_time": 0})
    )


# A new telemetry service adds its final-state function here; every crash, rebalance, poison,
# schema, database-fault and load test then runs for it too.
def snapshot_usage(database: Any) -> list[tuple]:
    """The stored daily totals per machine, local date and cost source (what /api/v1/usage/search/
    sums). Rounded to 1e-9: the aggregation may add the same parts in another order."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 9)

    return sorted(
        (doc["identifier"], doc["date"], doc["source"], rounded(doc["hours"]), rounded(doc["km"]), rounded(doc["cost"]))
        for doc in database.usage_daily.find()
    )


def snapshot_utilisation(database: Any) -> tuple[list[tuple], list[tuple]]:
    """The daily rows' figures per machine and local date, and the month rollup the API reads. Not
    the versions: how many a day went through depends on where the batches were cut."""

    def figures(row: dict) -> tuple:
        return (
            row["machine"],
            row["date"],
            row["site"],
            row["engine_hours"],
            row["available_hours"],
            row["fuel_l"],
            tuple(sorted(row["hours"].items())),
            tuple(sorted(row["idle_runs"].items())),
        )

    from equipment_utilisation.repository import UtilisationRepository

    rows = sorted(figures(row) for row in database.utilisation_days.find())
    rollup = sorted(figures(row) for row in UtilisationRepository(database).rows_between("0000", "9999"))
    return rows, rollup


SNAPSHOTS: dict[str, Callable[[Any], Any]] = {
    "current": snapshot_current,
    "history": snapshot_history,
    "usage": snapshot_usage,
    "utilisation": snapshot_utilisation,
}


def telemetry_services() -> list[str]:
    """The services that consume the telemetry topic into the database, read from settings at
    collection time. The archiver keeps its state in Parquet files; its own SIGKILL test is
    tests/history/test_archiver_process.py."""
    from django.conf import settings

    return [
        name
        for name, d in settings.TELEMETRY_SERVICES.items()
        if d.get("CODEC") == "telemetry" and name not in FILE_SERVICES | PLAN_SERVICES
    ]


FILE_SERVICES = frozenset({"archive"})
# Services that judge readings against plans kept in Django's SQL tables (maintenance): with no
# plans they only raise a high-water mark, and every child process here would need a migrated SQL
# database. Their crash and replay tests are tests/maintenance/test_events_broker.py and (alerts, rules in
# SQL) tests/alerts/test_consumer_broker.py.
PLAN_SERVICES = frozenset({"maintenance", "alerts"})


def snapshot(service: str, database: Any) -> Any:
    if service not in SNAPSHOTS:
        raise AssertionError(
            f"service {service!r} has no final-state snapshot: add one to SNAPSHOTS in tests/reliability/support.py"
        )
    return SNAPSHOTS[service](database)


def use_fresh_database(settings: Any, prefix: str = "rel") -> Any:
    """Point the database registry at a new, empty in-process database and return it."""
    from telemetry_site import backends

    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "telemetry_site.databases.open_database",
            "OPTIONS": {"uri": "mongomock://", "name": f"{prefix}_{uuid.uuid4().hex[:8]}"},
        }
    }
    return backends.databases["default"]


def reference_snapshot(settings: Any, service: str, records: Sequence[dict], batch_size: int = 500) -> Any:
    """The final state of an uninterrupted run: the service's own handler and validator fed the
    stream in production order (Kafka keeps each machine's order; machines never interact), in a
    fresh in-process database. ``settings.TELEMETRY_DATABASES`` is restored afterwards."""
    from stream.consumer import Record
    from telemetry_site.services import build_handler, build_validator, service_definition

    previous = settings.TELEMETRY_DATABASES
    database = use_fresh_database(settings, "reference")
    try:
        handler = build_handler(service)
        validate = build_validator(service_definition(service))
        good = [r for r in records if validate is None or not validate(r)]
        for start in range(0, len(good), batch_size):
            chunk = good[start : start + batch_size]
            handler.handle(
                [Record(r, r["identifier"].encode(), "reference", 0, start + i) for i, r in enumerate(chunk)]
            )
        return snapshot(service, database)
    finally:
        settings.TELEMETRY_DATABASES = previous


# --- streams -------------------------------------------------------------------------------------


def fleet_stream(count: int, machines: int = 50, seed: int = 6, now_ms: int | None = None) -> list[dict]:
    """``count`` readings of ``machines`` machines ending about now, one a minute per machine, with
    growing counters; 5% arrive late (swapped with a later one) and 5% are sent twice."""
    rng = random.Random(seed)
    now_ms = now_ms or int(time.time() * 1000)
    per_machine = max(1, count // machines)
    start = now_ms - per_machine * 60_000 - HOUR_MS
    stream: list[dict] = []
    for i in range(count):
        m, step = i % machines, i // machines
        gps = step % 7 != 3
        stream.append(
            telemetry(
                f"RL{m:03d}",
                start + step * 60_000 + m * 7,
                latitude=45.0 + m / 100 + step / 10_000 if gps else None,
                longitude=9.0 + m / 100 - step / 10_000 if gps else None,
                pois=[f"site-{(m + step // 50) % 5}"] if step % 3 else [],
                hours=1000.0 + m + step / 60,
                km=20_000.0 + m * 10 + step / 5,
                running=step % 11 != 0,
                fuel_used=5000.0 + step / 10,
                fuel_level=float(100 - step % 90),
            )
        )
    for _ in range(count // 20):  # late: swap with a reading up to 40 messages further on
        i = rng.randrange(len(stream) - 41)
        j = i + rng.randrange(1, 41)
        stream[i], stream[j] = stream[j], stream[i]
    for _ in range(count // 20):  # duplicates, a little after the original
        i = rng.randrange(len(stream))
        stream.insert(min(len(stream), i + rng.randrange(1, 100)), dict(stream[i]))
    return stream[:count]


# --- offsets -------------------------------------------------------------------------------------


def produce_tracked(producer: Any, topic: str, payloads: Sequence[tuple[bytes | None, bytes]]) -> dict[int, int]:
    """Produce ``(key, value)`` pairs, one produce call each; returns each partition's next offset
    after the last delivered record (max delivered offset + 1)."""
    ends: dict[int, int] = {}
    for partition, offset in produce_positions(producer, topic, payloads):
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def produce_positions(producer: Any, topic: str, payloads: Sequence[tuple[bytes | None, bytes]]) -> list[tuple]:
    """Produce ``(key, value)`` pairs, one produce call each; returns where each one landed,
    ``(partition, offset)``, in the order of ``payloads``.

    Why not the broker's end offsets: the Tansu test broker reports a partition's end offset as if
    each produced batch were one record, so lag is measured against what the delivery reports say.
    """
    positions: list[tuple] = [()] * len(payloads)
    errors: list[Any] = []

    def delivered(index: int, err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            positions[index] = (msg.partition(), msg.offset())

    for index, (key, value) in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=lambda e, m, i=index: delivered(i, e, m))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "some messages were not delivered"
    assert not errors, errors[:3]
    return positions


def committed_offsets(factory: Any, group: str, topic: str, partitions: int = PARTITIONS) -> dict[int, int]:
    probe = factory.consumer(group)
    try:
        found = probe.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        probe.close()
    return {tp.partition: max(tp.offset, 0) for tp in found}


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.2, message: str = "") -> float:
    """Poll ``condition`` until true; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true after {timeout}s: {message}")
        time.sleep(interval)
    return time.monotonic() - started


# --- consumer processes --------------------------------------------------------------------------


class ConsumerProcess:
    """``manage.py consume_equipment_telemetry --service NAME`` with its output in a log file."""

    def __init__(self, env: dict[str, str], service: str, log_path: Path, *args: str) -> None:
        self.service = service
        self.log_path = log_path
        self._log = open(log_path, "a")  # noqa: SIM115 - closed in wait()/kill()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "consume_equipment_telemetry", "--service", service, *args],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def batch_lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if f" {self.service} batch=" in line]

    def messages_seen(self) -> int:
        return sum(int(line.split("messages=")[1].split()[0]) for line in self.batch_lines())

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()
