"""Rules of the Parquet position archive's layout. Pure: no Django, pyarrow or Kafka.

The archive is a folder (or an object-store prefix) of Parquet files, Hive-partitioned by the UTC
date of each position's event time::

    date=2026-11-29/part-00003-00000000000000012000-00000000000000012499.parquet

One file holds positions of **one Kafka partition and one date**, and its name carries the first
and last Kafka offset of the rows it was written from. That name is what makes restarts exact:
within one (date, Kafka partition), files are written in offset order by the partition's single
consumer, so the highest "last offset" among a folder's names says that every position of that
partition and date up to that offset is already archived. A replayed message at or below it is
skipped instead of written again (``rows_to_write``), whatever the batch boundaries of the replay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from equipment_history.business import extract_position

DATE_PARTITION = "date"
_FILE_NAME = re.compile(r"part-(\d{5})-(\d{20})-(\d{20})\.parquet")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_PARTITION = 99_999
MAX_OFFSET = 10**20 - 1


@dataclass(frozen=True, slots=True, order=True)
class ArchiveFile:
    """One data file: its date folder, Kafka partition and the offset range it was written from."""

    date: str
    partition: int
    first_offset: int
    last_offset: int

    @property
    def name(self) -> str:
        return file_name(self.partition, self.first_offset, self.last_offset)

    @property
    def path(self) -> str:
        return f"{date_folder(self.date)}/{self.name}"


def date_of(timestamp: int) -> str:
    """The UTC calendar date (``YYYY-MM-DD``) of an epoch-ms instant: the Hive partition value."""
    return datetime.fromtimestamp(timestamp / 1000, UTC).strftime("%Y-%m-%d")


def date_folder(date: str) -> str:
    return f"{DATE_PARTITION}={date}"


def file_name(partition: int, first_offset: int, last_offset: int) -> str:
    """The deterministic name of the file written from ``partition``'s offsets ``first..last``.

    Zero-padded, so names sort in offset order and a replay of the same rows yields the same name.
    """
    if not 0 <= partition <= MAX_PARTITION:
        raise ValueError(f"Kafka partition {partition} out of range")
    if not 0 <= first_offset <= last_offset <= MAX_OFFSET:
        raise ValueError(f"bad offset range {first_offset}..{last_offset}")
    return f"part-{partition:05d}-{first_offset:020d}-{last_offset:020d}.parquet"


def parse_file_name(date: str, name: str) -> ArchiveFile | None:
    """The ``ArchiveFile`` a stored name stands for, or None for anything else (temporary files,
    files an operator dropped there): only our own names take part in the offset rule."""
    match = _FILE_NAME.fullmatch(name)
    if match is None or _DATE.fullmatch(date) is None:
        return None
    partition, first, last = (int(group) for group in match.groups())
    if first > last:
        return None
    return ArchiveFile(date, partition, first, last)


def parse_date_folder(name: str) -> str | None:
    """``2026-11-29`` for the folder name ``date=2026-11-29``, None for anything else."""
    prefix = f"{DATE_PARTITION}="
    if not name.startswith(prefix) or _DATE.fullmatch(name[len(prefix) :]) is None:
        return None
    return name[len(prefix) :]


def dates_between(start: int, end: int) -> list[str]:
    """The UTC dates that ``[start, end)`` (epoch ms) touches, oldest first."""
    if start >= end:
        return []
    day = 86_400_000
    first, last = start // day, (end - 1) // day
    return [date_of(d * day) for d in range(first, last + 1)]


def archive_rows(records: Iterable[tuple[dict, int, int]]) -> list[dict[str, Any]]:
    """The rows to archive from ``(record, kafka partition, kafka offset)`` triples.

    One row per position (a record without a GPS fix has none), the batch's first copy of each
    (identifier, timestamp) only, as the hot store keeps the first copy. Each row carries its date
    and its Kafka origin, which the file names and the replay rule are built from.
    """
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for record, partition, offset in records:
        position = extract_position(record)
        if position is None or position.key in rows:
            continue
        rows[position.key] = {
            "identifier": position.identifier,
            "timestamp": position.timestamp,
            "latitude": position.latitude,
            "longitude": position.longitude,
            "address": position.address,
            "points_of_interest": list(position.points_of_interest),
            "base": position.base,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "date": date_of(position.timestamp),
        }
    return list(rows.values())


def archived_until(files: Iterable[ArchiveFile]) -> dict[int, int]:
    """Per Kafka partition, the highest offset already archived among ``files`` (one date's)."""
    until: dict[int, int] = {}
    for file in files:
        until[file.partition] = max(until.get(file.partition, -1), file.last_offset)
    return until


def rows_to_write(rows: Iterable[dict[str, Any]], until: dict[int, int]) -> dict[int, list[dict[str, Any]]]:
    """One date's rows that are not archived yet, grouped by Kafka partition, in offset order.

    ``until`` is ``archived_until`` of that date's files: a row at or below its partition's mark
    was written by an earlier run whose offsets were not committed (killed, or a rebalance).
    """
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        partition = row["kafka_partition"]
        if row["kafka_offset"] > until.get(partition, -1):
            groups.setdefault(partition, []).append(row)
    for group in groups.values():
        group.sort(key=lambda row: row["kafka_offset"])
    return groups


def compaction_target(files: Iterable[ArchiveFile]) -> ArchiveFile | None:
    """The one file that ``files`` (one date, one Kafka partition) compact into, or None when there
    is nothing to do (no file, or a single one). The target spans all their offsets, so the
    offset rule reads the same before and after."""
    files = list(files)
    if len(files) < 2:
        return None
    if len({(f.date, f.partition) for f in files}) != 1:
        raise ValueError("compaction joins the files of one date and one Kafka partition")
    return ArchiveFile(
        files[0].date,
        files[0].partition,
        min(f.first_offset for f in files),
        max(f.last_offset for f in files),
    )
