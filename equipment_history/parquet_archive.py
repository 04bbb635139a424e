"""The built-in cold archive: positions in Parquet files, Hive-partitioned by date (docs/HISTORY.md).

``ParquetPositionArchive`` is both ends of it:

- the archiver's writer (``append``, called by ``PositionArchiveHandler`` once per consumer batch,
  and ``compact``);
- a ``HISTORY_ARCHIVES`` backend (``configured`` / ``positions``), the same contract as
  ``HttpArchiveClient``: positions, or ``ArchiveUnavailable`` with a reason.

The location is a local folder or any URI pyarrow's filesystems open (``s3://bucket/prefix?
endpoint_override=host:port&scheme=http``; credentials from the usual AWS environment variables
or files). A local file is written under a temporary name, fsync'd, renamed into place and its
folder fsync'd, so a file is either whole and durable or absent. An object store has no rename:
the file is serialized in memory and uploaded in one request, and an object exists only once its
upload completed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from equipment_history.archive import ArchiveUnavailable
from equipment_history.archive_layout import (
    ArchiveFile,
    archived_until,
    compaction_target,
    date_folder,
    dates_between,
    parse_date_folder,
    parse_file_name,
    rows_to_write,
)
from equipment_history.business import Position

logger = logging.getLogger("telemetry.history.parquet")

# Rows of one Parquet row group: readers skip a group whose identifier/timestamp statistics exclude
# what they look for, and rows are sorted by (identifier, timestamp), so a machine's rows of a day
# sit in one or two groups.
ROW_GROUP_SIZE = 16_384
# A temporary file this old was left by a killed writer: compaction of its folder removes it.
STALE_TEMPORARY_SECONDS = 3600


def arrow_schema() -> Any:
    """The Parquet schema: the API's position fields, then the Kafka origin of each row."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("identifier", pa.string(), nullable=False),
            pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("latitude", pa.float64(), nullable=False),
            pa.field("longitude", pa.float64(), nullable=False),
            pa.field("address", pa.string()),
            pa.field("points_of_interest", pa.list_(pa.string())),
            pa.field("base", pa.string()),
            pa.field("kafka_partition", pa.int32(), nullable=False),
            pa.field("kafka_offset", pa.int64(), nullable=False),
        ]
    )


class ArchiveLocation:
    """Files under one root, on the local disk or through a pyarrow filesystem."""

    def __init__(self, path: str) -> None:
        from pyarrow import fs

        if not path:
            raise ValueError("the archive path is empty")
        if "://" in path:
            self.filesystem, root = fs.FileSystem.from_uri(path)
        else:
            self.filesystem, root = fs.LocalFileSystem(), os.path.abspath(path)
        self.root = root.rstrip("/")
        self.local = isinstance(self.filesystem, fs.LocalFileSystem)
        self.uri = path

    def full_path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def dates(self) -> list[str]:
        """The dates with a folder, oldest first."""
        from pyarrow import fs

        infos = self.filesystem.get_file_info(fs.FileSelector(self.root, allow_not_found=True))
        found = (parse_date_folder(info.base_name) for info in infos if info.type == fs.FileType.Directory)
        return sorted(date for date in found if date is not None)

    def files(self, date: str) -> list[ArchiveFile]:
        """The data files of one date, in (partition, offset) order; other names are ignored."""
        return sorted(file for file in (parse_file_name(date, name) for name, _ in self._entries(date)) if file)

    def _entries(self, date: str) -> list[tuple[str, float | None]]:
        from pyarrow import fs

        selector = fs.FileSelector(self.full_path(date_folder(date)), allow_not_found=True)
        return [
            (info.base_name, info.mtime.timestamp() if info.mtime else None)
            for info in self.filesystem.get_file_info(selector)
            if info.type == fs.FileType.File
        ]

    def write(self, file: ArchiveFile, table: Any, *, sync_folder: bool = True) -> None:
        """Make ``file`` hold ``table``, durably and all at once (see the module docstring).

        ``sync_folder=False`` leaves the fsync of the date folder (which makes the rename durable)
        to a later ``sync_folder(date)``: one per folder for all the files of a batch.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.local:
            self._write_local(file, table, sync_folder)
            return
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer, compression="zstd", row_group_size=ROW_GROUP_SIZE)
        with self.filesystem.open_output_stream(self.full_path(file.path)) as out:
            out.write(buffer.getvalue())

    def sync_folder(self, date: str) -> None:
        """Make the renames into ``date``'s folder durable (local disk; object stores need nothing)."""
        if self.local:
            _fsync_folder(self.full_path(date_folder(date)))

    def _write_local(self, file: ArchiveFile, table: Any, sync_folder: bool) -> None:
        import pyarrow.parquet as pq

        folder = self.full_path(date_folder(file.date))
        new_folder = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        # A dot name: DuckDB's and Spark's globs and our own listing skip it while it is incomplete.
        temporary = f"{folder}/.{file.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(temporary, "wb") as out:
                pq.write_table(table, out, compression="zstd", row_group_size=ROW_GROUP_SIZE)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, f"{folder}/{file.name}")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if sync_folder:
            _fsync_folder(folder)  # the rename itself is durable only once the folder's entry is
        if new_folder:
            _fsync_folder(self.root)

    def read(self, files: Sequence[ArchiveFile], expression: Any = None) -> Any:
        """The rows of ``files`` (one table) that match ``expression`` (a pyarrow dataset filter)."""
        import pyarrow.dataset as ds

        dataset = ds.dataset(
            [self.full_path(file.path) for file in files],
            schema=arrow_schema(),
            format="parquet",
            filesystem=self.filesystem,
        )
        return dataset.to_table(filter=expression)

    def delete(self, file: ArchiveFile) -> None:
        self.filesystem.delete_file(self.full_path(file.path))

    def remove_stale_temporaries(self, date: str, now: float) -> int:
        """Delete the temporary files a killed writer left in ``date``'s folder (local disk only)."""
        if not self.local:
            return 0
        removed = 0
        for name, mtime in self._entries(date):
            stale = mtime is not None and now - mtime > STALE_TEMPORARY_SECONDS
            if name.startswith(".") and name.endswith(".tmp") and stale:
                with contextlib.suppress(OSError):
                    os.unlink(self.full_path(f"{date_folder(date)}/{name}"))
                    removed += 1
        return removed


class ParquetPositionArchive:
    """Writer and reader of the archive at ``path`` (``HISTORY_ARCHIVE_PATH``)."""

    def __init__(self, path: str, compact_after_files: int = 32, location: ArchiveLocation | None = None) -> None:
        self.path = path
        self.compact_after_files = compact_after_files
        self._location = location

    @property
    def location(self) -> ArchiveLocation:
        # Opened on first use: building the backend (settings, system checks) touches no storage.
        if self._location is None:
            self._location = ArchiveLocation(self.path)
        return self._location

    # --- HISTORY_ARCHIVES contract -------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return bool(self.path)

    def positions(self, identifier: str, start: int, end: int, limit: int) -> list[Position]:
        """Up to ``limit`` archived positions of ``identifier`` with ``start <= timestamp < end``,
        oldest first, each (identifier, timestamp) once. Reads one date folder at a time and stops
        as soon as ``limit`` positions are in hand: later dates hold only later positions."""
        if limit <= 0 or start >= end:
            return []
        try:
            return self._positions(identifier, start, end, limit)
        except ArchiveUnavailable:
            raise
        except Exception as exc:  # pyarrow raises OSError and ArrowException subclasses
            logger.warning("archive %s unreadable: %r", self.path, exc)
            raise ArchiveUnavailable(f"archive unreadable ({type(exc).__name__}: {str(exc)[:200]})") from exc

    def _positions(self, identifier: str, start: int, end: int, limit: int) -> list[Position]:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        if not self.path:
            raise ArchiveUnavailable("no archive is configured (HISTORY_ARCHIVE_PATH is empty)")
        moment = pa.timestamp("ms", tz="UTC")
        expression = (
            (ds.field("identifier") == identifier)
            & (ds.field("timestamp") >= pa.scalar(start, type=moment))
            & (ds.field("timestamp") < pa.scalar(end, type=moment))
        )
        found: dict[int, Position] = {}
        for date in dates_between(start, end):
            files = self.location.files(date)
            if not files:
                continue
            table = self.location.read(files, expression)
            columns = table.select(["timestamp", "latitude", "longitude", "address", "points_of_interest", "base"])
            timestamps = pc.cast(columns["timestamp"], pa.int64()).to_pylist()
            rest = columns.drop_columns(["timestamp"]).to_pydict()
            for i, timestamp in enumerate(timestamps):
                if timestamp not in found:
                    found[timestamp] = Position(
                        identifier=identifier,
                        timestamp=timestamp,
                        latitude=rest["latitude"][i],
                        longitude=rest["longitude"][i],
                        address=rest["address"][i],
                        points_of_interest=tuple(rest["points_of_interest"][i] or ()),
                        base=rest["base"][i],
                    )
            if len(found) >= limit:
                break
        return [found[timestamp] for timestamp in sorted(found)[:limit]]

    # --- the archiver's side ---------------------------------------------------------------------

    def append(self, rows: Iterable[dict[str, Any]]) -> list[ArchiveFile]:
        """Write rows (``archive_layout.archive_rows``) that are not archived yet; the new files.

        Per date: list the folder, skip rows at or below each Kafka partition's archived mark,
        write one file per partition. Returns once every file is durable, so the consumer loop
        commits the batch's offsets only then.
        """
        by_date: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_date.setdefault(row["date"], []).append(row)
        written: list[ArchiveFile] = []
        for date in sorted(by_date):
            existing = self.location.files(date)
            groups = rows_to_write(by_date[date], archived_until(existing))
            for partition, group in groups.items():
                file = ArchiveFile(date, partition, group[0]["kafka_offset"], group[-1]["kafka_offset"])
                self.location.write(file, rows_table(group), sync_folder=False)
                written.append(file)
            if groups:
                self.location.sync_folder(date)  # before any compaction deletes files, before the commit
            for partition in groups:
                if 1 + sum(1 for f in existing if f.partition == partition) >= self.compact_after_files:
                    self.compact(date, partition)
        return written

    def compact(self, date: str, partition: int) -> ArchiveFile | None:
        """Join the files of one date and Kafka partition into one; the new file, or None.

        Idempotent: the target's name spans every input's offsets, the rows are deduplicated by
        (identifier, timestamp) keeping the lowest offset (the first copy, as the hot store keeps)
        and sorted, so running it again, or after a crash at any point, ends in the same file.
        The target is durable before any input is deleted: a crash in between leaves rows twice
        (until the next run), never none.
        """
        location = self.location
        location.remove_stale_temporaries(date, time.time())
        files = [file for file in location.files(date) if file.partition == partition]
        target = compaction_target(files)
        if target is None:
            return None
        table = deduplicated(location.read(files))
        location.write(target, table)
        for file in files:
            if file != target:
                location.delete(file)
        logger.info("compacted %d files of %s partition %d into %s", len(files), date, partition, target.name)
        return target

    def compact_all(self, dates: Iterable[str] | None = None) -> list[ArchiveFile]:
        """``compact`` every (date, partition) of ``dates`` (default: every date) that has several files."""
        compacted = []
        for date in self.location.dates() if dates is None else dates:
            partitions = sorted({file.partition for file in self.location.files(date)})
            for partition in partitions:
                target = self.compact(date, partition)
                if target is not None:
                    compacted.append(target)
        return compacted


def rows_table(rows: Sequence[dict[str, Any]]) -> Any:
    """An Arrow table of archive rows, sorted by (identifier, timestamp) for the readers' statistics."""
    import pyarrow as pa

    schema = arrow_schema()
    table = pa.Table.from_pydict({name: [row[name] for row in rows] for name in schema.names}, schema=schema)
    return table.sort_by([("identifier", "ascending"), ("timestamp", "ascending")])


def deduplicated(table: Any) -> Any:
    """``table`` sorted by (identifier, timestamp), each pair once: the copy with the lowest offset."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.sort_by([("identifier", "ascending"), ("timestamp", "ascending"), ("kafka_offset", "ascending")])
    count = table.num_rows
    if count < 2:
        return table
    identifiers, timestamps = table["identifier"], table["timestamp"]
    same_as_previous = pc.and_(
        pc.equal(identifiers.slice(1), identifiers.slice(0, count - 1)),
        pc.equal(timestamps.slice(1), timestamps.slice(0, count - 1)),
    )
    keep = pa.concat_arrays([pa.array([True]), pc.invert(same_as_previous).combine_chunks()])
    return table.filter(keep)


def _fsync_folder(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
