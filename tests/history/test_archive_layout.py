"""The pure rules of the Parquet archive's layout (equipment_history/archive_layout.py)."""

from __future__ import annotations

import itertools
import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_history.archive_layout import (
    MAX_OFFSET,
    ArchiveFile,
    archive_rows,
    archived_until,
    compaction_target,
    date_of,
    dates_between,
    file_name,
    parse_date_folder,
    parse_file_name,
    rows_to_write,
)
from tests.factories import T0, telemetry
from tests.properties import property_settings

DAY = 86_400_000
offsets = st.integers(0, MAX_OFFSET)
partitions = st.integers(0, 99_999)


@property_settings(200)
@given(partitions, offsets, offsets)
def test_a_file_name_parses_back_to_what_it_was_built_from(partition, a, b):
    first, last = min(a, b), max(a, b)
    name = file_name(partition, first, last)
    assert parse_file_name("2026-11-29", name) == ArchiveFile("2026-11-29", partition, first, last)


@property_settings(200)
@given(partitions, offsets, offsets, partitions, offsets, offsets)
def test_names_sort_as_partitions_and_offsets_do(p1, a1, b1, p2, a2, b2):
    one = (p1, min(a1, b1), max(a1, b1))
    two = (p2, min(a2, b2), max(a2, b2))
    assert (file_name(*one) < file_name(*two)) == (one < two)


@property_settings(300)
@given(st.text(alphabet=string.printable, max_size=80), st.text(max_size=14))
def test_any_other_name_or_date_is_not_an_archive_file(name, date):
    file = parse_file_name(date, name)
    if file is not None:  # only our own exact shape parses
        assert file.name == name and date == file.date and file.first_offset <= file.last_offset


@pytest.mark.parametrize(
    "name",
    [
        ".part-00001-00000000000000000001-00000000000000000002.parquet.123-abcd.tmp",
        "part-00001-00000000000000000002-00000000000000000001.parquet",  # first > last
        "part-1-1-2.parquet",
        "part-00001-00000000000000000001-00000000000000000002.parquet.crc",
        "_SUCCESS",
    ],
)
def test_temporary_and_foreign_files_are_ignored(name):
    assert parse_file_name("2026-11-29", name) is None


def test_file_name_refuses_what_it_cannot_write():
    with pytest.raises(ValueError):
        file_name(-1, 0, 0)
    with pytest.raises(ValueError):
        file_name(0, 5, 4)
    with pytest.raises(ValueError):
        file_name(0, 0, MAX_OFFSET + 1)


def test_date_folders():
    assert parse_date_folder("date=2026-11-29") == "2026-11-29"
    assert parse_date_folder("date=2026-11-2") is None
    assert parse_date_folder("day=2026-11-29") is None
    assert date_of(T0) == "2025-11-24"
    assert date_of(T0 - T0 % DAY) == "2025-11-24" and date_of(T0 - T0 % DAY - 1) == "2025-11-23"


@property_settings(200)
@given(st.integers(0, 4_000_000_000_000), st.integers(1, 40 * DAY))
def test_dates_between_are_exactly_the_days_the_range_touches(start, span):
    end = start + span
    dates = dates_between(start, end)
    assert dates[0] == date_of(start) and dates[-1] == date_of(end - 1)
    days = [datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=UTC) for d in dates]
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
    assert dates_between(start, start) == []


def test_archive_rows_keep_the_first_copy_of_each_position_and_skip_records_without_gps():
    records = [
        (telemetry("EX1", T0, address="first", pois=["A", "B", "A"]), 0, 10),
        (telemetry("EX1", T0, address="second"), 0, 11),
        (telemetry("EX2", T0, latitude=None, longitude=None), 1, 3),
        (telemetry("EX2", T0 + DAY), 1, 4),
    ]
    rows = archive_rows(records)
    assert [(r["identifier"], r["kafka_offset"], r["date"]) for r in rows] == [
        ("EX1", 10, "2025-11-24"),
        ("EX2", 4, "2025-11-25"),
    ]
    assert rows[0]["address"] == "first" and rows[0]["points_of_interest"] == ["A", "B"]
    assert rows[0]["base"] == "MI01" and rows[0]["latitude"] == 45.46 and rows[0]["kafka_partition"] == 0


@property_settings(200)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 60)), unique=True, max_size=60),
    st.dictionaries(st.integers(0, 3), st.integers(-1, 60)),
)
def test_rows_to_write_are_those_above_their_partitions_mark_in_offset_order(origins, until):
    rows = [{"kafka_partition": p, "kafka_offset": o} for p, o in origins]
    groups = rows_to_write(rows, until)
    expected = {}
    for p, o in sorted(origins):
        if o > until.get(p, -1):
            expected.setdefault(p, []).append(o)
    assert {p: [r["kafka_offset"] for r in group] for p, group in groups.items()} == expected


def test_archived_until_and_compaction_target():
    files = [
        ArchiveFile("2026-11-29", 0, 0, 9),
        ArchiveFile("2026-11-29", 0, 10, 30),
        ArchiveFile("2026-11-29", 1, 5, 7),
    ]
    assert archived_until(files) == {0: 30, 1: 7}
    assert archived_until([]) == {}
    assert compaction_target(files[:2]) == ArchiveFile("2026-11-29", 0, 0, 30)
    assert compaction_target(files[:1]) is None and compaction_target([]) is None
    with pytest.raises(ValueError):
        compaction_target(files)
    assert files[0].path == "date=2026-11-29/part-00000-00000000000000000000-00000000000000000009.parquet"
