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
    assert extract_position(telemetry(latitude=45.0, longitude=None)) is None
    assert extract_position(telemetry(latitude=None, longitude=9.0)) is None


def test_points_of_interest_that_are_not_objects_or_have_no_name_are_skipped():
    record = telemetry()
    record["location"]["pointsOfInterest"] = ["Quarry", None, {"name": ""}, {"name": "Depot"}]
    assert extract_position(record).points_of_interest == ("Depot",)


def test_zero_coordinates_are_a_position_not_a_missing_fix():
    position = extract_position(telemetry(latitude=0.0, longitude=0.0, address=None, base=None))
    assert (position.latitude, position.longitude, position.address, position.base) == (0.0, 0.0, None, None)


def test_a_base_that_is_not_an_object_is_no_base():
    record = telemetry(base="MI01")
    for base in ("MI01", ["MI01"], None):
        record["base"] = base
        assert extract_position(record).base is None
    del record["base"]
    assert extract_position(record).base is None


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
    more = [at(t) for t in (1, 2, 3, 4)]
    assert page_of(more, 3) == (more[:3], 3)  # the cursor is the last position of the page
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
            {"timestamp": 0, "latitude": 90, "longitude": 180},  # at the inclusive start, on the limits: kept
            {"timestamp": 1, "latitude": -90, "longitude": -180},
            {"timestamp": 4, "latitude": -1, "longitude": -2, "address": None},
        ]
    }
    positions = parse_archive_positions("EX9", payload, 0, 10)
    assert positions == [
        Position("EX9", 5, 1.0, 2.5, "x", ("S",), "B"),
        Position("EX9", 0, 90.0, 180.0),
        Position("EX9", 1, -90.0, -180.0),
        Position("EX9", 4, -1.0, -2.0, None, (), None),
    ]


EPOCH_MS = "must be epoch milliseconds (an integer)"


def item(**fields):
    return {"positions": [{"timestamp": 1, "latitude": 1, "longitude": 2}, {"timestamp": 5, **fields}]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], 'expected a JSON object with a "positions" list'),
        ({"items": []}, 'expected a JSON object with a "positions" list'),
        ({"positions": "none"}, 'expected a JSON object with a "positions" list'),
        ({"positions": [1]}, "positions[0] is not an object"),
        (item(timestamp="5", latitude=1, longitude=2), f"positions[1].timestamp {EPOCH_MS}"),
        (item(timestamp=True, latitude=1, longitude=2), f"positions[1].timestamp {EPOCH_MS}"),
        (item(latitude=91, longitude=2), "positions[1].latitude 91 is outside [-90.0, 90.0]"),
        (item(latitude=-90.5, longitude=2), "positions[1].latitude -90.5 is outside [-90.0, 90.0]"),
        (item(latitude=1, longitude=180.5), "positions[1].longitude 180.5 is outside [-180.0, 180.0]"),
        (item(latitude=1, longitude=-180.5), "positions[1].longitude -180.5 is outside [-180.0, 180.0]"),
        (item(latitude=1, longitude=None), "positions[1].longitude must be a finite number, got None"),
        (item(latitude=1, longitude=float("nan")), "positions[1].longitude must be a finite number, got nan"),
        (item(latitude=1, longitude=2, address=7), "positions[1].address must be a string or null"),
        (item(latitude=1, longitude=2, base=7), "positions[1].base must be a string or null"),
        (
            item(latitude=1, longitude=2, points_of_interest="S"),
            "positions[1].points_of_interest must be a list of names",
        ),
    ],
)
def test_off_contract_archive_answer_is_rejected_whole_naming_the_fault(payload, message):
    with pytest.raises(MalformedArchiveAnswer) as raised:
        parse_archive_positions("EX9", payload, 0, 10)
    assert str(raised.value) == message


def test_event_time_is_the_same_instant_as_an_aware_utc_datetime():
    from datetime import UTC, datetime

    from equipment_history.business import event_time

    assert event_time(1_764_000_000_123) == datetime(2025, 11, 24, 16, 0, 0, 123000, tzinfo=UTC)
    assert event_time(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_position_documents_are_the_stored_shape_of_the_distinct_positions():
    from datetime import UTC, datetime

    from equipment_history.business import position_documents
    from tests.factories import T0, telemetry

    first = telemetry("EX1", T0, latitude=45, longitude=9, pois=["B", "A", "B"], address="Via Roma", base="MI01")
    replay = telemetry("EX1", T0, latitude=1.0, longitude=1.0)  # same key: the first seen wins
    no_gps = telemetry("EX1", T0 + 1, latitude=None, longitude=None)
    half_gps = telemetry("EX1", T0 + 2, latitude=45.0, longitude=None)
    no_location = {"identifier": "EX2", "timestamp": T0, "location": None}
    bad_gps = {"identifier": "EX2", "timestamp": T0 + 1, "location": {"GPS": "n/a"}}
    other = telemetry("EX2", T0 + 5, latitude=-1.5, longitude=2.5, pois=[], address=None, base=None)
    other["base"] = "not a dict"
    documents = position_documents([first, replay, no_gps, half_gps, no_location, bad_gps, other])
    assert documents == [
        {
            "identifier": "EX1",
            "timestamp": T0,
            "event_time": datetime.fromtimestamp(T0 / 1000, UTC),
            "latitude": 45.0,
            "longitude": 9.0,
            "address": "Via Roma",
            "points_of_interest": ["B", "A"],
            "base": "MI01",
        },
        {
            "identifier": "EX2",
            "timestamp": T0 + 5,
            "event_time": datetime.fromtimestamp((T0 + 5) / 1000, UTC),
            "latitude": -1.5,
            "longitude": 2.5,
            "address": None,
            "points_of_interest": [],
            "base": None,
        },
    ]
    assert isinstance(documents[0]["latitude"], float) and isinstance(documents[0]["longitude"], float)
    assert position_documents([]) == []
