"""HTTP API of the position-history service (DRF APIClient, in-process database)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from datetime import UTC, datetime

import pytest

from equipment_history.business import MS_PER_MINUTE, Position, day_window
from equipment_history.repository import position_document
from telemetry_site.backends import repositories
from tests.factories import authenticated_api_client

NOW = int(time.time() * 1000)
HOUR = 60 * MS_PER_MINUTE


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def client():
    return authenticated_api_client()


@pytest.fixture
def track(history):
    """EX001 every 10 minutes over the last 10 hours (61 positions), EX002 once."""
    positions = [
        Position(
            "EX001",
            NOW - 10 * HOUR + i * 10 * MS_PER_MINUTE,
            45.0 + i / 1000,
            9.0 + i / 1000,
            f"Via {i}",
            ("Site, North",) if i % 2 else (),
            "MI01",
        )
        for i in range(61)
    ]
    history.repository.insert([*positions, Position("EX002", NOW - HOUR, 44.0, 8.0)])
    return positions


def get(client, identifier="EX001", **params):
    return client.get(f"/api/v1/history/{identifier}/", params)


def test_positions_in_range_sorted_ascending_with_the_archive_not_needed(client, track):
    response = get(client, **{"from": iso(track[10].timestamp), "to": iso(track[20].timestamp)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["timestamp"] for item in body["results"]] == [iso(p.timestamp) for p in track[10:20]]
    assert body["results"][1] == {
        "identifier": "EX001",
        "timestamp": iso(track[11].timestamp),
        "latitude": 45.011,
        "longitude": 9.011,
        "address": "Via 11",
        "points_of_interest": ["Site, North"],
        "base": "MI01",
    }
    assert body["archive"] == "not_needed"
    assert body["archive_detail"] is None
    assert body["next"] is None
    assert (body["identifier"], body["from"], body["to"]) == (
        "EX001",
        iso(track[10].timestamp),
        iso(track[20].timestamp),
    )


def test_epoch_milliseconds_and_iso_with_offset_mean_the_same_instants(client, track):
    start, end = track[3].timestamp, track[7].timestamp
    as_ms = get(client, **{"from": str(start), "to": str(end)}).json()["results"]
    offset = datetime.fromtimestamp(start / 1000, tz=UTC).astimezone().isoformat(timespec="milliseconds")
    as_iso = get(client, **{"from": offset, "to": iso(end)}).json()["results"]
    assert as_ms == as_iso
    assert len(as_ms) == 4


def test_unknown_machine_is_an_empty_page(client, track):
    response = get(client, "NOPE", **{"from": str(NOW - HOUR), "to": str(NOW)})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert response.json()["next"] is None


def test_next_link_and_link_header_walk_the_range(client, track):
    params = {"from": str(track[0].timestamp), "to": str(NOW + 1), "page_size": 25}
    first = get(client, **params)
    assert first["Link"] == f'<{first.json()["next"]}>; rel="next"'
    seen, url = [], first.json()["next"]
    seen += first.json()["results"]
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += page.json()["results"]
        url = page.json()["next"]
    assert [item["timestamp"] for item in seen] == [iso(p.timestamp) for p in track]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-11-25T00:00:00Z"}, "from"),
        ({"from": "2026-11-25T00:00:00Z"}, "to"),
        ({"from": "yesterday", "to": "2026-11-25T00:00:00Z"}, "from"),
        ({"from": "2026-11-25T00:00:00Z", "to": "2026-13-01"}, "to"),
        ({"from": "2026-11-25T00:00:00Z", "to": "2026-11-25T00:00:00Z"}, "to"),
        ({"from": "2026-11-25T00:00:00Z", "to": "2026-11-24T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-25T00:00:00Z"}, "to"),  # longer than 31 days
        ({"from": "1", "to": "2", "cursor": "not-a-cursor"}, "cursor"),
        ({"from": "1", "to": "2", "cursor": "eyJhZnRlciI6ICJ4In0"}, "cursor"),  # {"after": "x"}
        ({"from": "1", "to": "2", "page_size": "0"}, "page_size"),
        ({"from": "1", "to": "2", "page_size": "100000"}, "page_size"),
    ],
)
def test_bad_or_missing_parameter_is_400_naming_it(client, history, params, field):
    response = get(client, **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("decoded", [[1764000000000], 1764000000000, None, {"after": True}, {}])
def test_a_cursor_that_is_not_an_object_with_an_integer_after_is_400(client, history, decoded):
    cursor = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode()
    response = get(client, **{"from": "1", "to": "2", "cursor": cursor})
    assert (response.status_code, response.json()) == (400, {"cursor": ["Not a cursor from a next link."]})


def test_a_cursor_with_characters_outside_base64url_is_400(client, track):
    first = get(client, **{"from": str(track[0].timestamp), "to": str(NOW), "page_size": 1}).json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    assert get(client, **{"from": str(track[0].timestamp), "to": str(NOW), "cursor": cursor}).status_code == 200
    for tampered in (f"{cursor}.", f"{cursor[:8]}+{cursor[9:]}", f" {cursor[:8]}/{cursor[9:]}"):
        response = get(client, **{"from": str(track[0].timestamp), "to": str(NOW), "cursor": tampered})
        assert (response.status_code, response.json()) == (400, {"cursor": ["Not a cursor from a next link."]})


@pytest.fixture
def old_positions(request, settings):
    """A history with no archive that keeps positions forever (retention 0): those of the 1970s stay."""
    settings.HISTORY_ARCHIVES = {"default": {"BACKEND": "equipment_history.archive.HttpArchiveClient"}}
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "collection": "positions", "retention_days": 0},
        },
    }
    request.getfixturevalue("mongo_db")
    return repositories["positions"]


@pytest.mark.parametrize("base", [99_999_990_000, 999_999_990_000])  # 1973 and 2001: 11 and 12 digits
def test_next_links_carry_unpadded_cursors_whatever_the_length_of_the_time(client, old_positions, base):
    old_positions.insert([Position("OLD", base + i * 1000, 45.0, 9.0) for i in range(3)])
    url, walked = f"/api/v1/history/OLD/?from={base}&to={base + 10_000}&page_size=1", []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        walked += [item["timestamp"] for item in response.json()["results"]]
        url = response.json()["next"]
        if url:  # base64url without padding: nothing in the link needs percent-encoding
            assert re.fullmatch(r"[A-Za-z0-9_-]+", url.split("cursor=")[1].split("&")[0]), url
    assert walked == [iso(base + i * 1000) for i in range(3)]


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_errors_stay_json_in_other_formats(client, history, fmt):
    response = get(client, format=fmt, to="2026-11-25T00:00:00Z")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert list(json.loads(response.content)) == ["from"]


def assert_position(value):
    assert isinstance(value, list) and len(value) in (2, 3), value
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    assert -180 <= value[0] <= 180 and -90 <= value[1] <= 90, value


def assert_geojson(document):
    """The structural rules of RFC 7946 for what the API emits: FeatureCollection, Feature, Point,
    LineString (at least two positions), positions as [longitude, latitude]."""
    assert document["type"] == "FeatureCollection"
    assert isinstance(document["features"], list)
    for feature in document["features"]:
        assert feature["type"] == "Feature"
        assert "properties" in feature and (feature["properties"] is None or isinstance(feature["properties"], dict))
        geometry = feature["geometry"]
        if geometry["type"] == "Point":
            assert_position(geometry["coordinates"])
        else:
            assert geometry["type"] == "LineString"
            assert len(geometry["coordinates"]) >= 2
            for position in geometry["coordinates"]:
                assert_position(position)


def test_geojson_is_a_feature_collection_with_a_track_and_points_in_lon_lat_order(client, track):
    params = {"from": str(track[0].timestamp), "to": str(NOW + 1), "page_size": 5, "format": "geojson"}
    response = get(client, **params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    document = json.loads(response.content)
    assert_geojson(document)
    line, *points = document["features"]
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"] == [[p.longitude, p.latitude] for p in track[:5]]
    assert [f["geometry"]["coordinates"] for f in points] == [[p.longitude, p.latitude] for p in track[:5]]
    assert points[1]["properties"]["timestamp"] == iso(track[1].timestamp)
    assert points[1]["properties"]["points_of_interest"] == ["Site, North"]
    assert document["next"] and document["archive"] == "not_needed"
    # The same through the Accept header.
    accepted = client.get(
        "/api/v1/history/EX001/", {k: v for k, v in params.items() if k != "format"}, HTTP_ACCEPT="application/geo+json"
    )
    assert json.loads(accepted.content)["features"] == document["features"]


def test_geojson_of_a_single_position_has_no_track(client, track):
    response = get(client, format="geojson", **{"from": str(track[0].timestamp), "to": str(track[1].timestamp)})
    document = json.loads(response.content)
    assert_geojson(document)
    assert [f["geometry"]["type"] for f in document["features"]] == ["Point"]


def test_csv_has_a_header_and_one_row_per_position(client, track):
    response = get(client, format="csv", **{"from": str(track[0].timestamp), "to": str(NOW + 1), "page_size": 1000})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["identifier", "timestamp", "latitude", "longitude", "address", "points_of_interest", "base"]
    assert len(rows) == 1 + len(track)
    assert rows[2] == ["EX001", iso(track[1].timestamp), "45.001", "9.001", "Via 1", "Site, North", "MI01"]
    assert rows[1][5] == ""


def test_csv_of_an_empty_range_is_just_the_header(client, history):
    response = get(client, "NOPE", format="csv", **{"from": "1", "to": "2"})
    assert response.content.decode().splitlines() == [
        "identifier,timestamp,latitude,longitude,address,points_of_interest,base"
    ]


def test_today_has_the_latest_position_of_every_machine_filterable_by_poi(client, history, settings):
    settings.HISTORY_TIME_ZONE = "Europe/Rome"
    start, end = day_window(int(time.time() * 1000), "Europe/Rome")
    positions = [
        Position("A", start + 1000, 45.0, 9.0, points_of_interest=("North",)),
        Position("A", start + 2000, 45.1, 9.1, points_of_interest=("South",)),
        Position("B", start + 1500, 44.0, 8.0, points_of_interest=("North",)),
        Position("C", start - 1, 43.0, 7.0, points_of_interest=("North",)),  # yesterday, local time
    ]
    history.repository.insert(positions)
    body = client.get("/api/v1/history/locations/today/").json()
    assert body["count"] == 2
    assert [(item["identifier"], item["latitude"]) for item in body["results"]] == [("A", 45.1), ("B", 44.0)]
    assert (body["day_from"], body["day_to"], body["time_zone"]) == (iso(start), iso(end), "Europe/Rome")
    north = client.get("/api/v1/history/locations/today/", {"poi": "North"}).json()
    assert [item["identifier"] for item in north["results"]] == ["B"]
    paged = client.get("/api/v1/history/locations/today/", {"page_size": 1, "page": 2}).json()
    assert [item["identifier"] for item in paged["results"]] == ["A", "B"][1:]
    assert client.get("/api/v1/history/locations/today/", {"page_size": "x"}).status_code == 400


def test_walking_next_over_5000_positions_returns_each_once_while_positions_arrive(client, settings, request):
    base = NOW - 20 * HOUR
    original = [Position("EX001", base + i * 10_000, 45.0, 9.0) for i in range(5000)]  # every 10 s
    # The in-process engine checks unique and TTL indexes by scanning the collection on every
    # insert (quadratic); loading the 5,000 before the repository creates its indexes keeps this
    # test at seconds instead of minutes. What is under test is the walk, not the load.
    database = request.getfixturevalue("mongo_db")
    database.positions.insert_many([position_document(p) for p in original])
    repository = repositories["positions"]
    assert "identifier_timestamp" in database.positions.index_information()

    url = f"/api/v1/history/EX001/?from={base}&to={NOW}&page_size=250"
    walked: list[int] = []
    expected_new: set[int] = set()
    pages = 0
    while url:
        body = client.get(url).json()
        pages += 1
        walked += [int(datetime.fromisoformat(item["timestamp"]).timestamp() * 1000) for item in body["results"]]
        url = body["next"]
        if url:
            # Between pages, positions arrive both behind the cursor (never served by this walk)
            # and ahead of it (served once, in order), including one a millisecond after the cursor.
            cursor = walked[-1]
            behind = [cursor - 3, base + pages * 7 + 1]
            ahead = [cursor + 1, cursor + 5_003, min(cursor + 900_001, NOW - 1)]
            repository.insert([Position("EX001", t, 46.0, 10.0) for t in behind + ahead])
            expected_new.update(ahead)
    assert pages > 20
    assert len(walked) == len(set(walked)), "a position was served twice"
    assert walked == sorted(walked)
    assert set(walked) == {p.timestamp for p in original} | expected_new


def test_browsable_api_renders(client, track):
    params = {"from": str(track[0].timestamp), "to": str(NOW + 1)}
    response = client.get("/api/v1/history/EX001/", params, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Position History" in response.content


def test_the_schema_documents_exactly_the_fields_of_a_page(client, track):
    body = get(client, **{"from": iso(track[0].timestamp), "to": iso(NOW)}).json()
    page = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]["PositionPageOut"]
    assert set(page["properties"]) == set(page["required"]) == set(body)
    assert page["properties"]["from"]["format"] == page["properties"]["to"]["format"] == "date-time"
