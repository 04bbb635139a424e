"""Benchmark 7: the Parquet archive (docs/HISTORY.md, "Cold archive").

    python -m benchmarks.archive [--messages 10000] [--machines 50] [--days 3] [--requests 200] [--json]

1. Archiver throughput: the ``archive`` service's real loop (``build_consumer_loop``: decode,
   validate, Parquet files written and fsync'd, commit, progress record) on the embedded broker,
   first batch polled to last commit, against the pipeline benchmark's reference (a raw
   confluent-kafka consumer decoding with fastavro, same topic, same run).
2. Files and bytes per day: the fleet simulator's ``--machines`` machines for ``--days`` days
   (around the clock, a report a minute while running), archived by the handler in batches of 500
   and compacted, as the archiver leaves closed days.
3. History API p50 / p95: ``GET /api/v1/history/<id>/`` through Django's test client (DRF, JSON
   rendering included) for a 6-hour range older than the retention window, so served wholly from
   the archive (the hot store, mongomock-ng, answers empty). No same-run reference: the
   in-process MongoDB stand-ins scan a collection per query, which would measure them, not us.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Result,
    avro_settings,
    command_line,
    embedded_broker,
    emit,
    fleet_records,
    kafka_settings,
    produce_encoded,
)

NAME = "archive"
PARTITIONS = 4
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def throughput(messages: int, batch_size: int) -> list[Result]:
    from django.test.utils import override_settings

    from benchmarks.pipeline import pipeline_rate, reference_rate
    from devstack.embedded import create_topics
    from telemetry_site import backends

    suffix = uuid.uuid4().hex[:8]
    topic, dead_letters = f"bench-archive-{suffix}", f"bench-deadletter-{suffix}"
    folder = tempfile.mkdtemp(prefix="c40-bench-archive-")
    try:
        with (
            embedded_broker() as broker,
            override_settings(
                **kafka_settings(broker.bootstrap_servers),
                **avro_settings(),
                DEAD_LETTER_TOPIC=dead_letters,
                HISTORY_ARCHIVE_PATH=folder,
            ),
        ):
            from django.conf import settings

            services = dict(settings.TELEMETRY_SERVICES)
            own_batch = services["archive"]["BATCH_SIZE"]
            services["archive"] = {**services["archive"], "BATCH_SIZE": batch_size, "BATCH_WAIT_SECONDS": 0.2}
            with override_settings(TELEMETRY_SERVICES=services):
                factory = backends.kafka["default"]
                create_topics(factory.admin(), {topic: PARTITIONS, dead_letters: 1})
                codec = backends.codecs["telemetry"]
                produce_encoded(
                    factory.producer(),
                    topic,
                    [(r["identifier"].encode(), codec.encode(r)) for r in fleet_records(messages)],
                )
                results = []
                # The pipeline benchmark's batch, then the archive service's own (ARCHIVE_BATCH_SIZE).
                for size in dict.fromkeys((batch_size, own_batch)):
                    services["archive"] = {**services["archive"], "BATCH_SIZE": size}
                    with override_settings(TELEMETRY_SERVICES=services):
                        reference = reference_rate(factory, topic, messages, size)
                        rate, _ = pipeline_rate("archive", topic, messages, "counted")
                    results.append(
                        Result(
                            NAME,
                            "archiver, Parquet on local disk, fsync'd before commit",
                            rate,
                            "msg/s",
                            "raw consume + fastavro decode",
                            reference,
                            note=f"{messages:,} msgs, {PARTITIONS} partitions, batch {size}",
                        )
                    )
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def simulated_days(machines: int, days: int, start_ms: int) -> list[tuple[dict, int, int]]:
    """(record, Kafka partition, offset) of ``days`` days of the simulator's fleet, keyed by machine."""
    from devstack.fleet import TELEMETRY
    from devstack.simulator import FleetSimulator

    simulator = FleetSimulator(machines=machines, seed=7, start_ms=start_ms, around_the_clock=True)
    offsets = [0] * PARTITIONS
    out = []
    for event in simulator.events(until_ms=start_ms + days * DAY_MS):
        if event.kind != TELEMETRY:
            continue
        record = event.value
        partition = zlib.crc32(record["identifier"].encode()) % PARTITIONS  # type: ignore[index]
        out.append((record, partition, offsets[partition]))
        offsets[partition] += 1
    return out


def files_per_day(machines: int, days: int, folder: str, start_ms: int) -> tuple[list[Result], list[Any]]:
    from equipment_history.archive_layout import date_of
    from equipment_history.archiver import PositionArchiveHandler
    from equipment_history.parquet_archive import ParquetPositionArchive
    from stream.consumer import Record

    stream = simulated_days(machines, days, start_ms)
    archive = ParquetPositionArchive(folder)
    handler = PositionArchiveHandler(archive=archive)
    records = [Record(r, None, "bench", p, o) for r, p, o in stream]
    peak = 0
    started = time.perf_counter()
    for i in range(0, len(records), 500):
        handler.handle(records[i : i + 500])
        newest = records[min(i + 499, len(records) - 1)].value["timestamp"]
        peak = max(peak, len(archive.location.files(date_of(newest))))  # the folder being filled
    archive.compact_all()
    seconds = time.perf_counter() - started
    dates = archive.location.dates()
    full_days = dates[:-1] if len(dates) > 1 else dates  # the last date may be a partial day
    sizes = {d: [Path(folder, f.path).stat().st_size for f in archive.location.files(d)] for d in full_days}
    counts = [len(s) for s in sizes.values()]
    mib = [sum(s) / 2**20 for s in sizes.values()]
    note = f"{machines} machines, {days} days, {len(stream):,} msgs ({len(stream) / days:,.0f}/day)"
    return [
        Result(
            NAME, "files per day after compaction (one per date and Kafka partition)", max(counts), "files", note=note
        ),
        Result(NAME, "MiB per day (Parquet, zstd)", max(mib), "MiB", note=note),
        Result(NAME, "most files in one day folder before compaction (batches of 500)", peak, "files", note=note),
        Result(NAME, "handler: append + compaction, in-process", len(stream) / seconds, "msg/s", note=note),
    ], stream


def api_p95(stream: list[Any], folder: str, requests: int) -> list[Result]:
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    first = min(r["timestamp"] for r, _, _ in stream)
    last = max(r["timestamp"] for r, _, _ in stream)
    machines = sorted({r["identifier"] for r, _, _ in stream})
    rng = random.Random(3)
    queries = []
    for _ in range(requests):
        start = rng.randrange(first, max(first + 1, last - 6 * HOUR_MS))
        queries.append((rng.choice(machines), start, start + 6 * HOUR_MS))
    archive_backend = {
        "default": {"BACKEND": "equipment_history.parquet_archive.ParquetPositionArchive", "OPTIONS": {"path": folder}}
    }
    database = {
        "default": {
            "BACKEND": "telemetry_site.databases.open_database",
            "OPTIONS": {"uri": "mongomock://", "name": f"bench_{uuid.uuid4().hex[:8]}"},
        }
    }

    def timed() -> list[float]:
        client = APIClient()
        client.get(f"/api/v1/history/{machines[0]}/", {"from": first, "to": first + HOUR_MS})  # warm-up: imports
        durations, served = [], 0
        for identifier, start, end in queries:
            began = time.perf_counter()
            response = client.get(f"/api/v1/history/{identifier}/", {"from": start, "to": end})
            durations.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.content[:300]
            served += len(response.json()["results"])
        assert served > 0, "the queries served nothing"
        return durations

    with override_settings(
        HISTORY_ARCHIVES=archive_backend,
        TELEMETRY_DATABASES=database,
        API_ALLOW_ANONYMOUS_READ=True,
        ALLOWED_HOSTS=["testserver"],
    ):
        durations = timed()
    note = f"{requests} requests, 6-hour ranges, {len(machines)} machines, default page size"
    return [
        Result(
            NAME,
            "history API p95, range wholly in the archive",
            statistics.quantiles(durations, n=20)[-1],
            "ms",
            note=note,
        ),
        Result(NAME, "history API p50, range wholly in the archive", statistics.median(durations), "ms", note=note),
    ]


def run(
    messages: int = 10_000, machines: int = 50, days: int = 3, requests: int = 200, batch_size: int = 500
) -> list[Result]:
    results = throughput(messages, batch_size) if messages > 0 else []
    folder = tempfile.mkdtemp(prefix="c40-bench-archive-")
    try:
        # Older than the retention window, so the API reads these days from the archive alone.
        start_ms = (int(time.time() * 1000) // DAY_MS - 40) * DAY_MS
        day_results, stream = files_per_day(machines, days, folder, start_ms)
        results += day_results
        results += api_p95(stream, folder, requests)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages through the archiver (0: skip)")
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.messages, args.machines, args.days, args.requests, args.batch_size), args.json)


if __name__ == "__main__":
    main()
