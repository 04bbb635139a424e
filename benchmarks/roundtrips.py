"""Benchmark 3: database operations per batch as the batch grows.

Each telemetry service's handler runs on batches of 10 to 10,000 simulated messages against the
real in-process engine (mongomock-ng, or the server at ``MONGO_URI``), wrapped by the counting
database; the consumer loop's progress record is counted too. Target: the count does not grow
with the batch — one bulk operation per collection per batch (plus one read where a service needs
its previous state).

    python -m benchmarks.roundtrips [--sizes 10,100,1000,10000] [--machines 500]
"""

from __future__ import annotations

import os
import time
from collections import Counter

from benchmarks.common import Result, command_line, database_settings, emit, fleet_records, telemetry_services
from benchmarks.counting import READS, WRITES

NAME = "round trips"
DEFAULT_SIZES = (10, 100, 1_000, 10_000)


def engine_uri() -> str:
    uri = os.environ.get("MONGO_URI", "")
    return uri if uri.startswith(("mongodb://", "mongodb+srv://")) else "mongomock://"


def count_batch(service: str, size: int, machines: int) -> tuple[dict[str, int], float]:
    """``{"collection.method": calls}`` of one batch of ``size`` messages, and its seconds."""
    from django.conf import settings
    from django.test.utils import override_settings

    from stream.consumer import BatchReport, Record
    from telemetry_site import backends
    from telemetry_site.services import build_handler, record_progress

    records = [
        Record(value, value["identifier"].encode(), "bench", 0, offset)
        for offset, value in enumerate(fleet_records(size, machines=min(machines, size)))
    ]
    kafka = {"default": {"BACKEND": "benchmarks.counting.CountingKafkaFactory"}}
    with override_settings(**database_settings(engine_uri(), counted=True), TELEMETRY_KAFKA=kafka):
        database = backends.databases["default"]
        try:
            for alias in settings.TELEMETRY_REPOSITORIES:
                backends.repositories[alias]  # built now: index creation is not per batch
            handler = build_handler(service)
            # The steady state: every machine already has a stored reading an hour earlier, so
            # each counted batch computes deltas (a usage batch of first readings writes less).
            earliest: dict[str, dict] = {}
            for record in records:
                earliest.setdefault(record.value["identifier"], record.value)
            handler.handle(
                [
                    Record({**value, "timestamp": value["timestamp"] - 3_600_000}, None, "bench", 0, 0)
                    for value in earliest.values()
                ]
            )
            database.counter.reset()
            started = time.perf_counter()
            handler.handle(records)
            last = records[-1]
            record_progress(BatchReport(service, size, size, 0, last.topic, 0, last.offset, None, None, 0, 0.0))
            seconds = time.perf_counter() - started
            return database.counter.snapshot(WRITES | READS), seconds
        finally:
            if database.client is not None:
                database.client.drop_database(database.name)


def run(sizes: tuple[int, ...] = DEFAULT_SIZES, machines: int = 500) -> list[Result]:
    results = []
    for service in telemetry_services():
        counts = {}
        for size in sizes:
            counts[size], seconds = count_batch(service, size, machines)
            results.append(
                Result(
                    NAME,
                    f"{service}: db operations per batch of {size:,}",
                    sum(counts[size].values()),
                    "ops",
                    note=", ".join(f"{k} {v}" for k, v in counts[size].items()) + f"; {seconds:.2f}s",
                )
            )
        smallest, largest = counts[sizes[0]], counts[sizes[-1]]
        per_collection: Counter = Counter()
        reads = 0
        for name, calls in largest.items():
            collection, method = name.rsplit(".", 1)
            if method in WRITES:
                per_collection[collection] += calls
            else:
                reads += calls
        constant = all(counts[size] == smallest for size in sizes)
        # Reads are reported, not bounded: usage reads the batch's last readings, the registry rates
        # (again once its ledger is written: docs/USAGE.md, "Rate changes"), and aggregates the touched
        # days from the stored deltas (never $inc): four, whatever the size.
        bulk = all(calls == 1 for calls in per_collection.values())
        results.append(
            Result(
                NAME,
                f"{service}: ops per batch at {sizes[-1]:,} vs at {sizes[0]:,}",
                sum(largest.values()),
                "ops",
                f"ops at {sizes[0]:,}",
                sum(smallest.values()),
                "= 1.0x, 1 write per collection",
                constant and bulk,
                note=f"{reads} reads per batch",
            )
        )
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated batch sizes")
    parser.add_argument("--machines", type=int, default=500, help="fleet size the batches come from")
    args = parser.parse_args(argv)
    setup_django()
    emit(run(tuple(int(s) for s in args.sizes.split(",")), args.machines), args.json)


if __name__ == "__main__":
    main()
