"""Pure rules of the position-history service: plain functions, no fixtures, no Django."""

from datetime import UTC, datetime

import pytest

from equipment_history.business import (
    MS_PER_DAY,
    MS_PER_MINUTE,
    MalformedArchiveAnswer,
    Position,
    archive_range,
    day_window,
    extract_position,
    extract_positions,
    merge_positions,
    page_of,
    parse_archive_positions,
    retention_boundary,
)
from tests.factories import T0, telemetry


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_position_carries_place_and_event_time():
    position = extract_position(telemetry("EX001", T0, pois=["Site A", "Site B", "Site A"]))
    assert position == Position(
        identifier="EX001",
        timestamp=T0,
        latitude=45.46,
        longitude=9.19,
        address="Via Roma 1, Milano",
        points_of_interest=("Site A", "Site B"),
        base="MI01",
    )


def test_message_without_gps_has_no_position():
    assert extract_position(telemetry(latitude=None, longitude=None)) is None


def test_zero_coordinates_are_a_position_not_a_missing_fix():
    position = extract_position(telemetry(latitude=0.0, longitude=0.0, address=None, base=None))
    assert (position.latitude, position.longitude, position.address, position.base) == (0.0, 0.0, None, None)


def test_batch_positions_are_distinct_and_skip_missing_fixes():
    records = [
        telemetry("A", T0, latitude=1.0),
        telemetry("A", T0, latitude=2.0),  # a duplicate of the same event: first seen wins
        telemetry("A", T0 + 1, latitude=None, longitude=None),
        telemetry("B", T0),
    ]
    positions = extract_positions(records)
    assert [(p.identifier, p.timestamp, p.latitude) for p in positions] == [("A", T0, 1.0), ("B", T0, 45.46)]


def at(timestamp: int, source: str = "hot") -> Position:
    return Position("EX001", timestamp, 45.0, 9.0, address=source)


def test_merge_sorts_by_time_and_drops_duplicates_at_the_seam_keeping_the_hot_copy():
    hot = [at(5), at(3), at(7)]
    archived = [at(1, "archive"), at(3, "archive"), at(2, "archive")]
    merged = merge_positions(hot, archived)
    assert [p.timestamp for p in merged] == [1, 2, 3, 5, 7]
    assert [p.address for p in merged] == ["archive", "archive", "hot", "hot", "hot"]


def test_retention_boundary():
    assert retention_boundary(10 * MS_PER_DAY, 3) == 7 * MS_PER_DAY


@pytest.mark.parametrize(
    ("start", "end", "after", "expected"),
    [
        (1000, 2000, None, None),  # starts at the retention boundary: the hot store covers it
        (999, 2000, None, (999, 1100)),  # reaches past the boundary: asked up to boundary + overlap
        (100, 500, None, (100, 500)),  # entirely old
        (100, 1050, None, (100, 1050)),  # ends inside the overlap
        (100, 2000, 299, (300, 1100)),  # a later page starts after the cursor
        (100, 2000, 999, None),  # the cursor has left the archive's part
    ],
)
def test_archive_range(start, end, after, expected):
    assert archive_range(start, end, after, boundary=1000, overlap_ms=100) == expected


def test_page_of_gives_a_cursor_only_when_more_remain():
    positions = [at(t) for t in (1, 2, 3)]
    assert page_of(positions, 2) == (positions[:2], 2)
    assert page_of(positions, 3) == (positions, None)
    assert page_of([], 3) == ([], None)


def test_day_window_in_a_time_zone():
    now = ms("2026-11-25T23:30:00+00:00")  # already the 26th in Rome
    assert day_window(now, "UTC") == (ms("2026-11-25T00:00:00+00:00"), ms("2026-11-26T00:00:00+00:00"))
    assert day_window(now, "Europe/Rome") == (ms("2026-11-26T00:00:00+01:00"), ms("2026-11-27T00:00:00+01:00"))


def test_day_window_follows_daylight_saving():
    start, end = day_window(ms("2026-03-29T12:00:00+02:00"), "Europe/Rome")  # clocks go forward
    assert end - start == 23 * 60 * MS_PER_MINUTE
    start, end = day_window(ms("2026-10-25T12:00:00+01:00"), "Europe/Rome")  # clocks go back
    assert end - start == 25 * 60 * MS_PER_MINUTE
    assert datetime.fromtimestamp(start / 1000, UTC).hour == 22  # 00:00 CEST is 22:00 UTC


def test_archive_answer_is_parsed_and_clipped_to_the_range():
    payload = {
        "positions": [
            {"timestamp": 5, "latitude": 1, "longitude": 2.5, "address": "x", "points_of_interest": ["S"], "base": "B"},
            {"timestamp": 10, "latitude": 1, "longitude": 2},  # at the exclusive end: dropped
            {"timestamp": 4, "latitude": -1, "longitude": -2, "address": None},
        ]
    }
    positions = parse_archive_positions("EX9", payload, 0, 10)
    assert positions == [
        Position("EX9", 5, 1.0, 2.5, "x", ("S",), "B"),
        Position("EX9", 4, -1.0, -2.0, None, (), None),
    ]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"items": []},
        {"positions": "none"},
        {"positions": [1]},
        {"positions": [{"timestamp": "5", "latitude": 1, "longitude": 2}]},
        {"positions": [{"timestamp": True, "latitude": 1, "longitude": 2}]},
        {"positions": [{"timestamp": 5, "latitude": 91, "longitude": 2}]},
        {"positions": [{"timestamp": 5, "latitude": 1, "longitude": None}]},
        {"positions": [{"timestamp": 5, "latitude": 1, "longitude": float("nan")}]},
        {"positions": [{"timestamp": 5, "latitude": 1, "longitude": 2, "address": 7}]},
        {"positions": [{"timestamp": 5, "latitude": 1, "longitude": 2, "points_of_interest": "S"}]},
    ],
)
def test_off_contract_archive_answer_is_rejected_whole(payload):
    with pytest.raises(MalformedArchiveAnswer):
        parse_archive_positions("EX9", payload, 0, 10)
