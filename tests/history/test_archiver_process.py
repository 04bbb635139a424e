"""The archiver as an operator runs it (``consume_equipment_telemetry --service archive``, a child
process on the real broker), SIGKILLed while it writes and restarted: every position once."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from django.core.management import call_command

from equipment_history.archive_layout import archive_rows, date_of
from equipment_history.parquet_archive import ParquetPositionArchive, arrow_schema
from stream.codecs import JsonCodec
from tests.processes import process_env, quick_group_env
from tests.reliability.support import (
    ConsumerProcess,
    committed_offsets,
    fleet_stream,
    produce_tracked,
    wait_until,
)

pytestmark = pytest.mark.broker

MESSAGES = 1200
KILLS = 3


def raw_rows(path) -> list[dict]:
    dates = pa.schema([("date", pa.string())])
    dataset = ds.dataset(
        str(path),
        format="parquet",
        partitioning=ds.partitioning(dates, flavor="hive"),
        schema=arrow_schema().append(dates.field("date")),
    )
    return dataset.to_table().to_pylist()


@pytest.fixture
def json_telemetry(settings) -> JsonCodec:
    """This process encodes JSON, as the child processes (no schema registry) decode."""
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    return JsonCodec("c40_enriched.avsc")


def key(row: dict) -> tuple[str, int]:
    return row["identifier"], int(row["timestamp"].timestamp() * 1000)


def test_archiver_sigkilled_mid_write_and_restarted_archives_every_position_once(
    kafka, json_telemetry, settings, tmp_path
):
    # 40 minutes of a 30-machine fleet across a UTC midnight (yesterday's: no event in the future).
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    stream = fleet_stream(MESSAGES, machines=30, seed=11, now_ms=int(midnight.timestamp() * 1000) + 80 * 60_000)
    expected = Counter(
        (row["identifier"], row["timestamp"]) for row in archive_rows((r, 0, i) for i, r in enumerate(stream))
    )
    ends = produce_tracked(
        kafka.producer(),
        settings.TELEMETRY_TOPIC,
        [(r["identifier"].encode(), json_telemetry.encode(r)) for r in stream],
    )
    archive = tmp_path / "archive"
    env = process_env(
        settings,
        tmp_path,
        HISTORY_ARCHIVE_PATH=str(archive),
        HISTORY_ARCHIVE_COMPACT_AFTER_FILES="6",  # compactions happen between the kills too
        ARCHIVE_BATCH_SIZE="40",
        ARCHIVE_BATCH_WAIT_SECONDS="0.2",
        **quick_group_env(),
    )
    group = settings.TELEMETRY_SERVICES["archive"]["GROUP_ID"]
    rng = random.Random(19)
    points = sorted(rng.sample(range(100, int(MESSAGES * 0.8)), KILLS))
    seen, mid_write = 0, 0
    for run, point in enumerate(points):
        process = ConsumerProcess(env, "archive", tmp_path / f"archive-{run}.log")
        try:
            wait_until(
                lambda p=process, at=point - seen: not p.alive() or p.messages_seen() >= at,
                120,
                0.02,
                f"run {run} never reached {point}",
            )
            assert process.alive(), process.output()
            # Kill while a file is being written when one is caught in the act (a temporary
            # file exists), else wherever the process is.
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and not any(archive.rglob(".*.tmp")):
                time.sleep(0.001)
            mid_write += any(archive.rglob(".*.tmp"))
        finally:
            process.kill()
        seen += process.messages_seen()
        assert sum(committed_offsets(kafka, group, settings.TELEMETRY_TOPIC).values()) < MESSAGES, run

    assert mid_write >= 1, "no kill landed while a file was being written"
    last = ConsumerProcess(env, "archive", tmp_path / "archive-last.log", "--idle-timeout", "4")
    assert last.wait(120) == 0, last.output()
    assert committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == ends

    # Before compaction: no row written twice by a replay (one per Kafka offset), every position there.
    rows = raw_rows(archive)
    origins = Counter((row["kafka_partition"], row["kafka_offset"]) for row in rows)
    assert max(origins.values()) == 1
    assert set(map(key, rows)) == set(expected)
    # What the API reads: each machine's positions exactly.
    reader = ParquetPositionArchive(str(archive))
    start, end = min(t for _, t in expected), max(t for _, t in expected) + 1
    for machine in ("RL000", "RL017", "RL029"):
        wanted = sorted(t for m, t in expected if m == machine)
        assert [p.timestamp for p in reader.positions(machine, start, end, 10_000)] == wanted

    # After compaction (upstream duplicates sent in different batches are rows until then),
    # a plain DuckDB glob counts every position once, per machine and day.
    call_command("compact_position_archive", "--path", str(archive), stdout=StringIO())
    assert Counter(map(key, raw_rows(archive))) == expected
    duckdb = pytest.importorskip("duckdb")
    counted = duckdb.sql(
        f"SELECT identifier, CAST(date AS VARCHAR), count(*) FROM read_parquet('{archive}/**/*.parquet',"
        " hive_partitioning = 1) GROUP BY ALL"
    ).fetchall()
    assert {(m, d): n for m, d, n in counted} == dict(Counter((m, date_of(t)) for m, t in expected))
    assert len({d for _, d, _ in counted}) == 2
    print(f"\nARCHIVER kills={KILLS} caught_mid_write={mid_write} messages={MESSAGES} positions={len(expected)}")
