"""HTTP API of the current-state service (DRF APIClient, in-process database)."""

import time

import pytest

from equipment_current.business import fold_state_updates
from telemetry_site.backends import repositories
from tests.factories import T0, telemetry


@pytest.fixture
def fleet(mongo_db):
    records = [
        telemetry(f"EX{i:03d}", T0 + i * 1000, brand="Volvo" if i % 2 else "Caterpillar", pois=[f"site-{i % 3}"])
        for i in range(25)
    ]
    repositories["current_state"].apply(fold_state_updates(records).values())
    return records


def test_snapshot_is_paged_and_ordered(api_client, fleet):
    response = api_client.get("/api/v1/current/", {"page_size": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 25
    assert [item["identifier"] for item in body["results"]] == [f"EX{i:03d}" for i in range(10)]
    assert body["next"].endswith("page=2&page_size=10")
    last = api_client.get("/api/v1/current/", {"page_size": 10, "page": 3}).json()
    assert [item["identifier"] for item in last["results"]] == [f"EX{i:03d}" for i in range(20, 25)]
    assert last["next"] is None


def test_machine_representation(api_client, fleet):
    response = api_client.get("/api/v1/current/EX001/")
    assert response.status_code == 200
    body = response.json()
    assert body["identifier"] == "EX001"
    assert body["last_event_at"] == "2025-11-24T16:00:01.000Z"
    assert body["position"] == {
        "latitude": 45.46,
        "longitude": 9.19,
        "address": "Via Roma 1, Milano",
        "at": "2025-11-24T16:00:01.000Z",
    }
    assert body["description"]["brand"] == "Volvo"
    assert body["points_of_interest"]["names"] == ["site-1"]
    assert body["stale"] is True  # T0 is long past


def test_stale_says_whether_the_machine_has_been_silent_longer_than_the_setting(api_client, mongo_db, settings):
    settings.CURRENT_STALE_MINUTES = 30
    now = int(time.time() * 1000)
    repositories["current_state"].apply(
        fold_state_updates([telemetry("FRESH", now - 60_000), telemetry("SILENT", now - 31 * 60_000)]).values()
    )
    assert api_client.get("/api/v1/current/FRESH/").json()["stale"] is False
    assert api_client.get("/api/v1/current/SILENT/").json()["stale"] is True
    body = api_client.get("/api/v1/current/").json()
    assert {item["identifier"]: item["stale"] for item in body["results"]} == {"FRESH": False, "SILENT": True}
    # The filter counts from the same clock: silent for more than 10 minutes is SILENT only.
    silent = api_client.get("/api/v1/current/", {"stale_minutes": 10}).json()["results"]
    assert [item["identifier"] for item in silent] == ["SILENT"]


def test_unknown_section_is_null(api_client, mongo_db):
    repositories["current_state"].apply(
        fold_state_updates([telemetry("X1", T0, latitude=None, longitude=None)]).values()
    )
    body = api_client.get("/api/v1/current/X1/").json()
    assert body["position"] is None
    assert body["points_of_interest"] is None


def test_unknown_machine_is_404(api_client, mongo_db):
    response = api_client.get("/api/v1/current/NOPE/")
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]


def test_filters(api_client, fleet):
    def ids(**params):
        response = api_client.get("/api/v1/current/", {"page_size": 100, **params})
        assert response.status_code == 200, response.content
        return [item["identifier"] for item in response.json()["results"]]

    assert ids(brand="Volvo") == [f"EX{i:03d}" for i in range(1, 25, 2)]
    assert ids(poi="site-0", brand="Caterpillar") == [f"EX{i:03d}" for i in range(0, 25, 6)]
    assert ids(updated_since="2025-11-24T16:00:20Z") == [f"EX{i:03d}" for i in range(20, 25)]
    assert ids(updated_since=str(T0 + 23_000)) == ["EX023", "EX024"]
    assert ids(bbox="9,45,10,46") == [f"EX{i:03d}" for i in range(25)]
    assert ids(bbox="10,45,11,46") == []
    assert len(ids(stale_minutes=0)) == 25


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "10,0,5,1"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"stale_minutes": "-1"}, "stale_minutes"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "100000"}, "page_size"),
        ({"page": "zero"}, "page"),
    ],
)
def test_bad_parameter_is_400_naming_it(api_client, mongo_db, params, field):
    response = api_client.get("/api/v1/current/", params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_browsable_api_renders(api_client, fleet):
    response = api_client.get("/api/v1/current/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Fleet Snapshot" in response.content
