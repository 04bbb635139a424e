"""Soak: a simulated fleet's days of backfill through every consumer on the embedded store, then the API.

Issue 16: the embedded store (litemongo) must hold a fleet-week without the consumers slowing down.
This benchmark publishes ``--days`` of the fleet simulator's backfill (``--machines`` machines,
seed 1, ending now) to the embedded broker, runs every service of ``TELEMETRY_SERVICES`` through
its real consumer loop (``build_consumer_loop``: decode, validate, handler, commit) into one
litemongo store, one service after the other, then asks the API (Django's test client in this
process: no HTTP server, no network) and prints:

- per service, the batch time percentiles (p50, p95, max) of the first and of the last day of event
  time, and their ratio (target: last day's p95 <= 2x the first day's). A batch's time runs from
  the poll that returned it to its commit; its day is that of its newest event;
- the retention sweep over the whole store (what ``expire_positions`` does every 5 minutes);
- per API figure, p50 and p95 over ``--requests`` requests (target: p95 < 300 ms), and the first
  request after the consumers' last write (litemongo rebuilds a process's query index when another
  process changed a collection: what a live stack's web server pays after each batch);
- the store: documents per collection and bytes on disk.

    python -m benchmarks.soak                         # the issue's size: 50 machines, 7 days
    python -m benchmarks.soak --machines 200 --days 2 # a larger fleet
    python -m benchmarks.soak --days 1 --keep /tmp/s  # keep the store to look at it

Not a test: nothing here asserts. The figures of the runs are in docs/PERFORMANCE.md ("Soak").
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

DAY_MS = 86_400_000
BATCH_SIZE = 500


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; nan if there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


class TimedBatches:
    """Wraps a loop's consumer and handler: notes when ``consume`` returned a batch, the newest event
    time the handler saw in it, and, at ``commit``, the batch's time and day."""

    def __init__(self, consumer: Any, handler: Any, start_ms: int) -> None:
        self._consumer, self._handler, self.start_ms = consumer, handler, start_ms
        self._polled_at: float | None = None
        self._newest: int | None = None
        self.batches: list[tuple[int, float]] = []  # (day index, seconds)

    def consume(self, *args: Any, **kwargs: Any) -> list[Any]:
        messages = self._consumer.consume(*args, **kwargs)
        if messages:
            self._polled_at, self._newest = time.perf_counter(), None
        return messages

    def handle(self, records: Sequence[Any]) -> None:
        times = [r.value.get("timestamp") or r.value.get("last_update") or 0 for r in records]
        self._newest = max(times, default=None)
        self._handler.handle(records)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        result = self._consumer.commit(*args, **kwargs)
        if self._polled_at is not None and self._newest is not None:
            day = (self._newest - self.start_ms) // DAY_MS
            self.batches.append((int(day), time.perf_counter() - self._polled_at))
        self._polled_at = None
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def publish_fleet(machines: int, start_ms: int, end_ms: int, topics: dict[str, str]) -> dict[str, int]:
    """Publish the simulator's events of ``[start_ms, end_ms)`` (seed 1), encoded by the configured
    codecs, keyed by machine, stamped with their event time. Returns messages per kind."""
    from devstack.fleet import REGISTRY, TELEMETRY
    from devstack.simulator import FleetSimulator
    from telemetry_site import backends

    codecs = {TELEMETRY: backends.codecs["telemetry"], REGISTRY: backends.codecs["registry"]}
    producer = backends.kafka["default"].producer(**{"linger.ms": 50})
    counts = {TELEMETRY: 0, REGISTRY: 0}
    simulator = FleetSimulator(machines=machines, seed=1, start_ms=start_ms)
    for event in simulator.events(until_ms=end_ms):
        if event.kind not in codecs:
            continue
        value = codecs[event.kind].encode(event.value)
        while True:
            try:
                producer.produce(topics[event.kind], key=event.key.encode(), value=value, timestamp=event.timestamp)
                break
            except BufferError:
                producer.poll(0.05)
        counts[event.kind] += 1
        if counts[event.kind] % 1000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        raise RuntimeError("some soak messages were not delivered")
    return counts


def consume_service(name: str, messages: int, start_ms: int) -> tuple[list[tuple[int, float]], float]:
    """Run service ``name``'s real loop over the ``messages`` of its topic; its batches and seconds."""
    from stream.consumer import freeze_startup_objects
    from telemetry_site.services import build_consumer_loop

    loop = build_consumer_loop(name, max_messages=messages, idle_timeout=120)
    timed = TimedBatches(loop.consumer, loop.handler, start_ms)
    loop.consumer = timed
    loop.handler = timed
    freeze_startup_objects()
    started = time.perf_counter()
    stats = loop.run()
    if stats.messages != messages:
        raise RuntimeError(f"{name} consumed {stats.messages} of {messages} messages: {stats}")
    return timed.batches, time.perf_counter() - started


def timed_requests(get: Callable[[], Any], requests: int, budget: float = 60.0) -> tuple[float, list[float]]:
    """The first request's seconds, then ``requests`` more, or as many (at least 3) as fit in
    ``budget`` seconds: an endpoint that scans the store takes seconds a request."""
    started = time.perf_counter()
    response = get()
    first = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < requests and (len(times) < 3 or time.perf_counter() < deadline):
        started = time.perf_counter()
        get()
        times.append(time.perf_counter() - started)
    return first, times


def api_figures(now_ms: int, requests: int) -> Iterator[tuple[str, float, list[float], float]]:
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_superuser(f"soak-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex)
    client = Client(HTTP_HOST="localhost")  # an allowed host of the settings
    client.force_login(user)
    identifier = client.get("/api/v1/current/", {"page_size": "1"}).json()["results"][0]["identifier"]
    today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    endpoints = [
        ("fleet page (/api/v1/current/)", "/api/v1/current/", {}),
        (
            f"one machine's last 24 h of history ({identifier})",
            f"/api/v1/history/{identifier}/",
            {"from": str(now_ms - DAY_MS), "to": str(now_ms), "page_size": "1000"},
        ),
        ("locations today", "/api/v1/history/locations/today/", {}),
        (
            "a month of usage search, by day",
            "/api/v1/usage/search/",
            {"from": str(today - timedelta(days=30)), "to": str(today), "group_by": "day"},
        ),
        ("ops overview (/admin/ops/)", "/admin/ops/", {}),
    ]
    other = other_process_writer()
    for label, path, params in endpoints:
        first, times = timed_requests(lambda p=path, q=params: client.get(p, q), requests)
        after_writes = []
        for _ in range(3):
            other()
            started = time.perf_counter()
            client.get(path, params)
            after_writes.append(time.perf_counter() - started)
        yield label, first, times, statistics.median(after_writes)


def other_process_writer() -> Callable[[], None]:
    """A function that changes (and restores) every collection the API reads through another
    connection to the store, as a running consumer does: litemongo then rebuilds the reading
    process's in-memory index of that collection on its next query."""
    from django.conf import settings

    from telemetry_site.databases import open_database

    database = open_database(settings.MONGO_URI, settings.MONGO_DB)

    def write() -> None:
        for name in ("current_state", "positions", "usage_daily", "consumer_progress"):
            database[name].insert_one({"_id": "soak-other-process"})
            database[name].delete_one({"_id": "soak-other-process"})

    return write


def store_figures(store: Path) -> tuple[dict[str, int], int]:
    from telemetry_site import backends

    database = backends.databases["default"]
    counts = {name: database[name].count_documents({}) for name in sorted(database.list_collection_names())}
    size = sum(path.stat().st_size for path in store.rglob("*") if path.is_file())
    return counts, size


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def summary(values: Sequence[float]) -> str:
    """p50 / p95 / max in ms, or "-" without values."""
    if not values:
        return "-"
    return f"{ms(percentile(values, 0.5))} / {ms(percentile(values, 0.95))} / {ms(max(values))}"


def run(machines: int, days: float, requests: int, keep: str | None, api_only: bool = False) -> None:
    run_dir = Path(keep or tempfile.mkdtemp(prefix="c40-soak-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    store = run_dir / "litemongo"
    os.environ["MONGO_URI"] = f"litemongo://{store}"
    os.environ["C40_RUN_DIR"] = str(run_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemetry_site.settings")
    from benchmarks.common import embedded_broker, kafka_settings, machine_info, setup_django

    setup_django()
    from django.conf import settings
    from django.test.utils import override_settings

    from devstack.embedded import create_topics
    from telemetry_site import backends

    end_ms = int(time.time() * 1000)
    start_ms = end_ms - int(days * DAY_MS)
    suffix = uuid.uuid4().hex[:8]
    telemetry_topic, registry_topic = f"soak-telemetry-{suffix}", f"soak-registry-{suffix}"
    services = {}
    for name, definition in settings.TELEMETRY_SERVICES.items():
        topic = registry_topic if definition["CODEC"] == "registry" else telemetry_topic
        services[name] = {**definition, "TOPIC": topic, "GROUP_ID": f"soak-{name}-{suffix}"}
    info = machine_info()
    print(f"# soak: {machines} machines, {days:g} days of backfill, store {store}", flush=True)
    print("# machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    with (
        embedded_broker() as broker,
        override_settings(
            **kafka_settings(broker.bootstrap_servers),
            TELEMETRY_SERVICES=services,
            USAGE_TOPIC=f"soak-usage-{suffix}",
            DEAD_LETTER_TOPIC=f"soak-deadletter-{suffix}",
            CONSUMER_BATCH_SIZE=BATCH_SIZE,
        ),
    ):
        if not api_only:  # --api-only: measure the API of a kept store again
            create_topics(
                backends.kafka["default"].admin(),
                {telemetry_topic: 4, registry_topic: 1, settings.USAGE_TOPIC: 4, settings.DEAD_LETTER_TOPIC: 1},
            )
            started = time.perf_counter()
            counts = publish_fleet(
                machines, start_ms, end_ms, {"telemetry": telemetry_topic, "registry": registry_topic}
            )
            print(f"# published {counts} in {time.perf_counter() - started:.0f} s", flush=True)
            print(
                "\n| service | messages | batches | wall s | first day p50 / p95 / max ms "
                "| last day p50 / p95 / max ms | p95 last/first | target <= 2x |"
            )
            print("|---|---|---|---|---|---|---|---|")
            last_day = max(0, int(days * DAY_MS - 1) // DAY_MS)
            # The registry first, as in a running stack (rates are there before usage prices a reading).
            ordered = sorted(services, key=lambda name: services[name]["CODEC"] != "registry")
            per_day: dict[str, list[tuple[int, float]]] = {}
            for name in ordered:
                kind = "registry" if services[name]["CODEC"] == "registry" else "telemetry"
                batches, wall = consume_service(name, counts[kind], start_ms)
                first = [s for day, s in batches if day == 0]
                last = [s for day, s in batches if day == last_day]
                ratio = percentile(last, 0.95) / percentile(first, 0.95) if first and last else float("nan")
                verdict = "-" if ratio != ratio else ("PASS" if ratio <= 2 else "FAIL")
                cells = [summary(values) for values in (first, last)]
                print(
                    f"| {name} | {counts[kind]:,} | {len(batches)} | {wall:,.0f} | {cells[0]} | {cells[1]} "
                    f"| {ratio:.2f}x | {verdict} |",
                    flush=True,
                )
                per_day[name] = batches
            # Every day's batch p95 (ms) and count: the trend, weekends included (fewer messages).
            print("\n| service | " + " | ".join(f"day {d + 1} p95 ms (batches)" for d in range(last_day + 1)) + " |")
            print("|---|" + "---|" * (last_day + 1))
            for name, batches in per_day.items():
                row = []
                for day in range(last_day + 1):
                    values = [s for d, s in batches if d == day]
                    row.append(f"{ms(percentile(values, 0.95))} ({len(values)})" if values else "-")
                print(f"| {name} | " + " | ".join(row) + " |", flush=True)

        positions = backends.repositories["positions"]
        started = time.perf_counter()
        expired = positions.delete_expired(end_ms)
        print(
            f"\nretention sweep (delete_expired, {positions.retention_days} days, nothing old enough): "
            f"{expired} deleted in {ms(time.perf_counter() - started)} ms",
            flush=True,
        )

        print(
            f"\n| API (up to {requests} requests each, in-process test client) | first request ms | p50 ms "
            "| p95 ms | target p95 < 300 ms | after another process's write, ms (median of 3) |"
        )
        print("|---|---|---|---|---|---|")
        for label, first, times, after_write in api_figures(end_ms, requests):
            p95 = percentile(times, 0.95)
            print(
                f"| {label} ({len(times)} requests) | {ms(first)} | {ms(statistics.median(times))} | {ms(p95)} "
                f"| {'PASS' if p95 < 0.3 else 'FAIL'} | {ms(after_write)} |",
                flush=True,
            )

        documents, size = store_figures(store)
        print(
            f"\nstore: {size / 2**20:,.1f} MiB on disk; documents: "
            + ", ".join(f"{name} {count:,}" for name, count in documents.items())
        )
    if keep is None:
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--days", type=float, default=7.0, help="days of backfill, ending now")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per API figure")
    parser.add_argument("--keep", default=None, help="a directory for the run (kept); default: a temporary one")
    parser.add_argument("--api-only", action="store_true", help="with --keep: only the API and store figures")
    args = parser.parse_args(argv)
    if args.api_only and not args.keep:
        parser.error("--api-only needs --keep DIR, a store kept by an earlier run")
    run(args.machines, args.days, args.requests, args.keep, args.api_only)


if __name__ == "__main__":
    main(sys.argv[1:])
