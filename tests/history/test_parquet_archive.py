"""The Parquet archive with real files: the archiver's handler, replays after a crash at any point,
compaction, the history API across the hot/archive seam, DuckDB reading the folder, and the
s3:// path against moto's S3 server on localhost."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_history.archive import ArchiveUnavailable
from equipment_history.archive_layout import ArchiveFile, date_folder, date_of
from equipment_history.archiver import PositionArchiveHandler
from equipment_history.business import MS_PER_DAY, MS_PER_MINUTE, position_documents
from equipment_history.parquet_archive import ArchiveLocation, ParquetPositionArchive, arrow_schema
from stream.consumer import Record
from telemetry_site.backends import repositories
from tests.factories import T0, authenticated_api_client, telemetry
from tests.properties import property_settings

PARTITIONS = 3


def stream(machines: int, per_machine: int, step_ms: int, *, duplicates: int = 0, seed: int = 0, late: bool = False):
    """Records as the broker would hold them: keyed by machine (one partition per machine), each
    partition's records numbered by offset; ``duplicates`` positions sent a second time later;
    ``late``: in any time order, so a later offset may hold an earlier date."""
    rng = random.Random(seed)
    records = [
        telemetry(f"EX{m:03d}", T0 + i * step_ms + m, address=f"a{i}", pois=[f"P{i % 3}"])
        for i in range(per_machine)
        for m in range(machines)
    ]
    records += [dict(r) for r in rng.sample(records, duplicates)]
    if late:
        rng.shuffle(records)
    by_partition: dict[int, list[Record]] = {p: [] for p in range(PARTITIONS)}
    for record in records:
        partition = int(record["identifier"][2:]) % PARTITIONS
        log = by_partition[partition]
        log.append(Record(record, record["identifier"].encode(), "telemetry", partition, len(log)))
    return by_partition


def positions_of(by_partition) -> Counter:
    """(identifier, timestamp) of every distinct position produced."""
    return Counter({(r.value["identifier"], r.value["timestamp"]): 1 for log in by_partition.values() for r in log})


def raw_rows(path) -> list[dict]:
    """Every row of every data file, read as a plain dataset would (hidden temporaries skipped)."""
    dates = pa.schema([("date", pa.string())])
    dataset = ds.dataset(
        str(path),
        format="parquet",
        partitioning=ds.partitioning(dates, flavor="hive"),
        schema=arrow_schema().append(dates.field("date")),
    )
    return dataset.to_table().to_pylist()


class DyingDisk(ArchiveLocation):
    """A real location that raises after ``writes_left`` more writes, as a process killed mid-batch
    would stop: the files before it are whole, the one in progress never appears."""

    def __init__(self, path: str, writes_left: int) -> None:
        super().__init__(path)
        self.writes_left = writes_left

    def write(self, file, table, *, sync_folder: bool = True) -> None:
        if self.writes_left == 0:
            raise KeyboardInterrupt("the archiver died")
        self.writes_left -= 1
        super().write(file, table, sync_folder=sync_folder)


def consume(by_partition, archive: ParquetPositionArchive, committed: dict[int, int], rng: random.Random) -> bool:
    """Run the archiver's handler over the log from ``committed`` in batches of random size,
    committing after each handled batch, as the shared loop does; False when it died."""
    handler = PositionArchiveHandler(archive=archive)
    while any(committed[p] < len(log) for p, log in by_partition.items()):
        batch = []
        for partition, log in by_partition.items():
            batch += log[committed[partition] : committed[partition] + rng.randint(0, 40)]
        if not batch:
            continue
        try:
            handler.handle(batch)
        except KeyboardInterrupt:
            return False
        for record in batch:
            committed[record.partition] = max(committed[record.partition], record.offset + 1)
    return True


@property_settings(12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), deaths=st.lists(st.integers(0, 12), max_size=4))
def test_crashes_at_any_write_and_replays_leave_every_position_once(tmp_path_factory, seed, deaths):
    path = tmp_path_factory.mktemp("archive")
    # 6 machines, a position every 2 hours for 2.5 days, in any time order: every batch spans dates and partitions.
    log = stream(6, 30, 2 * 3_600_000, seed=seed, late=True)
    committed = dict.fromkeys(log, 0)
    rng = random.Random(seed)
    for writes_left in deaths:
        archive = ParquetPositionArchive(str(path), compact_after_files=5, location=DyingDisk(str(path), writes_left))
        consume(log, archive, committed, rng)
    assert consume(log, ParquetPositionArchive(str(path), compact_after_files=5), committed, rng)

    rows = raw_rows(path)
    assert Counter((r["identifier"], int(r["timestamp"].timestamp() * 1000)) for r in rows) == positions_of(log)
    assert all(r["date"] == date_of(int(r["timestamp"].timestamp() * 1000)) for r in rows)
    reader = ParquetPositionArchive(str(path))
    for machine in ("EX000", "EX005"):
        wanted = sorted(t for (m, t) in positions_of(log) if m == machine)
        assert [p.timestamp for p in reader.positions(machine, T0, T0 + 4 * MS_PER_DAY, 1000)] == wanted


def test_a_replayed_batch_writes_nothing_and_compaction_is_idempotent(tmp_path):
    log = stream(4, 30, 3 * 3_600_000, duplicates=10, seed=3)
    archive = ParquetPositionArchive(str(tmp_path), compact_after_files=1000)
    handler = PositionArchiveHandler(archive=archive)
    everything = [r for records in log.values() for r in records]
    for i in range(0, len(everything), 17):
        handler.handle(everything[i : i + 17])
    files_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
    assert archive.append(archive.location.read([]).to_pylist()) == []  # no rows: no file
    handler.handle(everything)  # the whole log replayed at once
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")) == files_before

    # Duplicated positions (same machine and time, later offset) are rows until compaction
    # (a copy in the same batch as its original is dropped at once, as the hot store's batch does).
    assert sum(positions_of(log).values()) < len(raw_rows(tmp_path)) <= sum(positions_of(log).values()) + 10
    assert archive.compact_all()
    files_after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
    groups = Counter((f.date, f.partition) for date in archive.location.dates() for f in archive.location.files(date))
    assert set(groups.values()) == {1} and len(files_after) == len(groups)  # one file per date and partition
    rows = raw_rows(tmp_path)
    assert Counter((r["identifier"], int(r["timestamp"].timestamp() * 1000)) for r in rows) == positions_of(log)
    # The first copy is kept, as the hot store keeps it.
    assert all(r["address"] == f"a{(int(r['timestamp'].timestamp() * 1000) - T0) // (3 * 3_600_000)}" for r in rows)
    assert archive.compact_all() == []  # nothing left to do
    handler.handle(everything)  # and a replay after compaction still writes nothing
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")) == files_after


def test_compaction_interrupted_after_its_file_is_written_ends_the_same(tmp_path):
    log = stream(3, 20, 3_600_000)
    archive = ParquetPositionArchive(str(tmp_path), compact_after_files=1000)
    everything = [r for records in log.values() for r in records]
    for i in range(0, len(everything), 9):
        PositionArchiveHandler(archive=archive).handle(everything[i : i + 9])
    date = archive.location.dates()[0]
    inputs = [f for f in archive.location.files(date) if f.partition == 1]
    # The compacted file is durable, then the run dies before deleting its inputs.
    target = ArchiveFile(date, 1, inputs[0].first_offset, inputs[-1].last_offset)
    archive.location.write(target, archive.location.read(inputs))
    assert archive.compact(date, 1) == target
    assert archive.location.files(date) == sorted(
        [*(f for f in archive.location.files(date) if f.partition != 1), target]
    )
    assert len(raw_rows(tmp_path)) == sum(positions_of(log).values())


def test_duckdb_reads_the_folder_with_counts_per_machine_and_day_as_produced(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    log = stream(5, 48, 97 * MS_PER_MINUTE, duplicates=6, seed=9)
    archive = ParquetPositionArchive(str(tmp_path), compact_after_files=4)
    handler = PositionArchiveHandler(archive=archive)
    everything = [r for records in log.values() for r in records]
    random.Random(1).shuffle(everything)  # any batch mixes partitions; offsets stay per partition
    ordered = sorted(everything, key=lambda r: (r.partition, r.offset))
    for i in range(0, len(ordered), 23):
        handler.handle(ordered[i : i + 23])
    archive.compact_all()
    expected = Counter((m, date_of(t)) for (m, t) in positions_of(log))
    query = f"""
        SELECT identifier, CAST(date AS VARCHAR), count(*)
        FROM read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = 1)
        GROUP BY ALL
    """
    counted = {(machine, day): n for machine, day, n in duckdb.sql(query).fetchall()}
    assert counted == dict(expected)
    assert len(expected) >= 10  # several machines over several days


# --- the history API across the seam -----------------------------------------------------------

RETENTION_DAYS = 2


@pytest.fixture
def parquet_history(settings, tmp_path, request):
    settings.HISTORY_ARCHIVES = {
        "default": {
            "BACKEND": "equipment_history.parquet_archive.ParquetPositionArchive",
            "OPTIONS": {"path": str(tmp_path / "archive")},
        }
    }
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "collection": "positions", "retention_days": RETENTION_DAYS},
        },
    }
    request.getfixturevalue("mongo_db")
    return tmp_path / "archive"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def walk(client, identifier: str, params: dict) -> tuple[list[dict], list[dict]]:
    pages = [client.get(f"/api/v1/history/{identifier}/", params).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    return [item for page in pages for item in page["results"]], pages


def test_a_range_across_the_seam_is_exact_with_no_duplicate(parquet_history):
    now = int(time.time() * 1000)
    boundary = now - RETENTION_DAYS * MS_PER_DAY
    # Every 20 minutes over 4 days, clear of the boundary by 10 minutes (the clock moves on).
    timestamps = [now - 4 * MS_PER_DAY + 10 * MS_PER_MINUTE + i * 20 * MS_PER_MINUTE for i in range(4 * 72)]
    hot = [telemetry("EX001", t, address="hot") for t in timestamps]
    repositories["positions"].insert_documents(position_documents(hot))
    repositories["positions"].delete_expired(now)  # the retention sweep (the TTL index on a server)
    # The archiver has everything up to three hours past the boundary: more than the overlap.
    archived = [Record(telemetry("EX001", t, address="archive"), b"EX001", "t", 0, i) for i, t in enumerate(timestamps)]
    PositionArchiveHandler(archive=ParquetPositionArchive(str(parquet_history))).handle(
        [r for r in archived if r.value["timestamp"] < boundary + 180 * MS_PER_MINUTE]
    )
    results, pages = walk(
        authenticated_api_client(), "EX001", {"from": str(timestamps[0]), "to": str(now), "page_size": 50}
    )
    served = [ms(item["timestamp"]) for item in results]
    assert served == timestamps
    assert {item["address"] for item in results if ms(item["timestamp"]) < boundary} == {"archive"}
    assert {item["address"] for item in results if ms(item["timestamp"]) > boundary} == {"hot"}
    assert pages[0]["archive"] == "merged" and pages[-1]["archive"] == "not_needed"


def test_a_range_older_than_retention_comes_wholly_from_the_archive(parquet_history):
    now = int(time.time() * 1000)
    old = [now - 20 * MS_PER_DAY + i * 15 * MS_PER_MINUTE for i in range(300)]
    PositionArchiveHandler(archive=ParquetPositionArchive(str(parquet_history))).handle(
        [Record(telemetry("EX7", t, pois=["Yard"]), b"EX", "t", 2, i) for i, t in enumerate(old)]
    )
    results, pages = walk(
        authenticated_api_client(), "EX7", {"from": str(old[0]), "to": str(old[-1] + 1), "page_size": 100}
    )
    assert [ms(item["timestamp"]) for item in results] == old
    assert {page["archive"] for page in pages} == {"merged"}
    assert results[0]["points_of_interest"] == ["Yard"] and results[0]["base"] == "MI01"


def test_an_unreadable_archive_file_is_the_archive_unavailable(parquet_history):
    now = int(time.time() * 1000)
    old = now - 10 * MS_PER_DAY
    folder = parquet_history / date_folder(date_of(old))
    folder.mkdir(parents=True)
    (folder / ArchiveFile(date_of(old), 0, 0, 5).name).write_bytes(b"not parquet at all")
    body = (
        authenticated_api_client().get("/api/v1/history/EX001/", {"from": str(old - MS_PER_DAY), "to": str(now)}).json()
    )
    assert body["archive"] == "unavailable"
    assert body["archive_detail"].startswith("archive unreadable")
    with pytest.raises(ArchiveUnavailable):
        ParquetPositionArchive(str(parquet_history)).positions("EX001", old - 1, old + 1, 10)


def test_an_empty_archive_path_is_not_configured(parquet_history, settings):
    settings.HISTORY_ARCHIVES = {
        "default": {"BACKEND": "equipment_history.parquet_archive.ParquetPositionArchive", "OPTIONS": {"path": ""}}
    }
    now = int(time.time() * 1000)
    body = (
        authenticated_api_client()
        .get("/api/v1/history/EX001/", {"from": str(now - 5 * MS_PER_DAY), "to": str(now)})
        .json()
    )
    assert body["archive"] == "not_configured"


def test_a_missing_archive_folder_is_merged_and_empty(parquet_history):
    now = int(time.time() * 1000)
    body = (
        authenticated_api_client()
        .get("/api/v1/history/EX001/", {"from": str(now - 5 * MS_PER_DAY), "to": str(now)})
        .json()
    )
    assert body["archive"] == "merged" and body["results"] == []


def test_the_default_settings_read_the_parquet_archive_under_the_run_folder():
    from django.conf import settings

    default = settings.HISTORY_ARCHIVES["default"]
    assert default["BACKEND"] == "equipment_history.parquet_archive.ParquetPositionArchive"
    assert default["OPTIONS"]["path"] == settings.HISTORY_ARCHIVE_PATH
    assert str(settings.RUN_DIR) in settings.HISTORY_ARCHIVE_PATH
    assert settings.TELEMETRY_SERVICES["archive"]["HANDLER"] == "equipment_history.archiver.PositionArchiveHandler"


# --- object storage: moto's S3 server on localhost ----------------------------------------------


@pytest.fixture(scope="module")
def s3_server():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


def test_the_archive_on_s3_writes_replays_compacts_and_reads(s3_server, monkeypatch):
    import boto3

    host, port = s3_server
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"archive-{random.randrange(10**9)}"
    s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/positions?endpoint_override={host}:{port}&scheme=http&region=us-east-1"
    log = stream(4, 30, 3 * 3_600_000, seed=5)
    everything = sorted((r for records in log.values() for r in records), key=lambda r: (r.offset, r.partition))
    archive = ParquetPositionArchive(uri, compact_after_files=4)
    handler = PositionArchiveHandler(archive=archive)
    for i in range(0, len(everything), 11):
        handler.handle(everything[i : i + 11])
    handler.handle(everything[: len(everything) // 2])  # a replay
    archive.compact_all()
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="positions/")["Contents"]
    keys = sorted(o["Key"] for o in objects if not o["Key"].endswith("/"))  # pyarrow marks folders
    assert keys and all(k.startswith("positions/date=") and k.endswith(".parquet") for k in keys)
    assert len(keys) == len({k.split("/")[1] for k in keys}) * PARTITIONS  # one file per date and partition
    reader = ParquetPositionArchive(uri)
    for machine in ("EX000", "EX003"):
        wanted = sorted(t for (m, t) in positions_of(log) if m == machine)
        assert [p.timestamp for p in reader.positions(machine, T0, T0 + 5 * MS_PER_DAY, 1000)] == wanted
    assert [p.timestamp for p in reader.positions("EX003", T0, T0 + 5 * MS_PER_DAY, 3)] == wanted[:3]


def test_the_compaction_command_names_a_bad_date_and_reports_what_it_did(tmp_path):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        call_command("compact_position_archive", "--path", str(tmp_path), "--date", "29/11/2026")
    log = stream(2, 10, 3_600_000)
    archive = ParquetPositionArchive(str(tmp_path), compact_after_files=1000)
    for records in log.values():
        for record in records:
            PositionArchiveHandler(archive=archive).handle([record])
    out = StringIO()
    call_command("compact_position_archive", "--path", str(tmp_path), "--date", date_of(T0), stdout=out)
    assert out.getvalue().splitlines()[-1] == f"compacted 2 date/partition group(s) in {tmp_path}"
    assert len(list((tmp_path / date_folder(date_of(T0))).glob("*.parquet"))) == 2
    assert len(list((tmp_path / date_folder(date_of(T0 + MS_PER_DAY))).glob("*.parquet"))) == 4  # not asked


def test_a_storage_failure_is_transient_so_the_loop_retries_and_commits_nothing(tmp_path):
    from stream.codecs import TransientError
    from stream.consumer import is_transient

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive's folder should be")
    handler = PositionArchiveHandler(archive=ParquetPositionArchive(str(blocked)))
    with pytest.raises(TransientError) as caught:
        handler.handle([Record(telemetry("EX001", T0), b"EX001", "t", 0, 0)])
    assert is_transient(caught.value) and str(blocked) in str(caught.value)
