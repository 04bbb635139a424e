"""HTTP API of the usage service (DRF APIClient, in-process database)."""

import pytest

from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from telemetry_site.backends import repositories
from tests.factories import authenticated_api_client

H = 3_600_000
DAY0 = 1_764_028_800_000  # 2025-11-25T00:00:00Z


class RecordingPublisher:
    def __init__(self):
        self.records = []

    def publish(self, records):
        self.records.extend(records)
        return len(records)


@pytest.fixture
def client():
    return authenticated_api_client()


@pytest.fixture
def usage(mongo_db):
    repositories["equipment_registry"].store(
        [{"identifier": "EX1", "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR", "last_update": 0}]
    )
    handler = UsageHandler(publisher=RecordingPublisher(), rules=UsageRules())
    handler.process(
        [
            Reading("EX1", DAY0 - 2 * H, 10.0, 100.0, ("A", "B")),
            Reading("EX1", DAY0 + 2 * H, 14.0, 140.0, ("A",)),  # 4 h, 40 km: half on each day, A and B
            Reading("EX1", DAY0 + 3 * H, 2.0, 150.0),  # hours reset, 10 km to A
            Reading("EX2", DAY0, 1.0, None),
            Reading("EX2", DAY0 + H, 1.5, None),  # 0.5 h unassigned, no rates: cost null
        ]
    )
    handler.process([Reading("EX1", DAY0 + H, 13.0, 130.0, ("A", "B"))])  # late: splits 22:00 -> 02:00
    return handler


def test_search_by_day_with_totals(client, usage):
    response = client.get("/api/v1/usage/search/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["group_by"] == "day"
    assert [(g["key"], g["hours"], g["km"], g["cost"]) for g in body["results"]] == [
        ("2025-11-24", 2.0, 20.0, 40.0),
        ("2025-11-25", 2.5, 30.0, 50.0),
    ]
    assert body["results"][1]["unpriced"] == 1 and body["results"][1]["currencies"] == ["EUR"]
    totals = body["totals"]
    assert (totals["key"], totals["hours"], totals["km"], totals["cost"]) == ("total", 4.5, 50.0, 90.0)
    assert totals["deltas"] == 8 and totals["unpriced"] == 1


def test_search_by_poi_and_identifier_and_filters(client, usage):
    def groups(**params):
        response = client.get("/api/v1/usage/search/", params)
        assert response.status_code == 200, response.content
        return [(g["key"], g["hours"], g["km"], g["cost"]) for g in response.json()["results"]]

    assert groups(group_by="poi") == [("A", 2.0, 30.0, 50.0), ("B", 2.0, 20.0, 40.0), ("unassigned", 0.5, 0.0, None)]
    assert groups(group_by="identifier") == [("EX1", 4.0, 50.0, 90.0), ("EX2", 0.5, 0.0, None)]
    assert groups(identifier="EX1", poi="A") == [("2025-11-24", 1.0, 10.0, 20.0), ("2025-11-25", 1.0, 20.0, 30.0)]
    assert groups(**{"from": "2025-11-25", "to": "2025-11-25", "group_by": "identifier"}) == [
        ("EX1", 2.0, 30.0, 50.0),
        ("EX2", 0.5, 0.0, None),
    ]
    assert groups(identifier="NOPE") == []
    assert client.get("/api/v1/usage/search/", {"identifier": "NOPE"}).json()["totals"]["cost"] is None


def test_deltas_of_a_machine_with_flags(client, usage):
    response = client.get("/api/v1/usage/EX1/deltas/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4
    rows = [(d["interval_end"], d["flags"], d["counted"], d["hours"], d["km"]) for d in body["results"]]
    assert rows == [
        ("2025-11-24T22:00:00.000Z", ["first"], False, None, None),
        ("2025-11-25T01:00:00.000Z", [], True, 3.0, 30.0),
        ("2025-11-25T02:00:00.000Z", [], True, 1.0, 10.0),
        ("2025-11-25T03:00:00.000Z", ["hours_reset"], True, None, 10.0),
    ]
    split = body["results"][1]
    assert split["interval_start"] == "2025-11-24T22:00:00.000Z"
    assert split["start"] == {"timestamp": "2025-11-24T22:00:00.000Z", "hours": 10.0, "km": 100.0, "pois": ["A", "B"]}
    assert [(d["date"], d["start"], d["end"], d["hours"]) for d in split["days"]] == [
        ("2025-11-24", "2025-11-24T22:00:00.000Z", "2025-11-25T00:00:00.000Z", 2.0),
        ("2025-11-25", "2025-11-25T00:00:00.000Z", "2025-11-25T01:00:00.000Z", 1.0),
    ]
    assert split["days"][0]["sources"][1] == {"source": "B", "share": 0.5, "hours": 1.0, "km": 10.0, "cost": 20.0}

    ranged = client.get("/api/v1/usage/EX1/deltas/", {"from": "2025-11-25T01:00:00Z", "to": str(DAY0 + 2 * H)})
    assert [d["interval_start"] for d in ranged.json()["results"]] == [
        "2025-11-24T22:00:00.000Z",
        "2025-11-25T01:00:00.000Z",
    ]
    assert ranged.json()["count"] == 2  # the count honours both bounds too
    paged = client.get("/api/v1/usage/EX1/deltas/", {"page_size": 3, "page": 2}).json()
    assert [d["flags"] for d in paged["results"]] == [["hours_reset"]]


def test_lastdata_is_the_newest_reading_per_machine_paged(client, usage):
    body = client.get("/api/v1/usage/debug/lastdata/", {"page_size": 1}).json()
    assert body["count"] == 2
    assert body["results"] == [
        {
            "identifier": "EX1",
            "timestamp": "2025-11-25T03:00:00.000Z",
            "hours": 2.0,
            "hours_at": "2025-11-25T03:00:00.000Z",
            "km": 150.0,
            "km_at": "2025-11-25T03:00:00.000Z",
            "pois": [],
        }
    ]
    second = client.get("/api/v1/usage/debug/lastdata/", {"page_size": 1, "page": 2}).json()["results"][0]
    assert (second["identifier"], second["km"], second["km_at"]) == ("EX2", None, None)


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/v1/usage/search/", {"group_by": "week"}, "group_by"),
        ("/api/v1/usage/search/", {"from": "yesterday"}, "from"),
        ("/api/v1/usage/search/", {"to": "2025-13-01"}, "to"),
        ("/api/v1/usage/search/", {"from": "2025-11-25", "to": "2025-11-24"}, "to"),
        ("/api/v1/usage/EX1/deltas/", {"from": "soon"}, "from"),
        ("/api/v1/usage/EX1/deltas/", {"from": str(DAY0), "to": str(DAY0 - 1)}, "to"),
        ("/api/v1/usage/EX1/deltas/", {"page_size": "0"}, "page_size"),
        ("/api/v1/usage/debug/lastdata/", {"page_size": "100000"}, "page_size"),
        ("/api/v1/usage/debug/lastdata/", {"page": "x"}, "page"),
    ],
)
def test_bad_parameter_is_400_naming_it(client, mongo_db, url, params, field):
    response = client.get(url, params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_browsable_api_renders(client, usage):
    response = client.get("/api/v1/usage/search/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Usage Search" in response.content


def test_system_check_refuses_a_bad_time_zone_and_limits(settings):
    from equipment_usage.checks import check_usage_settings

    assert check_usage_settings() == []
    settings.USAGE_TIME_ZONE = "Mars/Olympus"
    settings.USAGE_MAX_SPEED_KMH = 0
    settings.USAGE_HOURS_TOLERANCE = -0.1
    settings.USAGE_REPRICE_MAX_AGE_DAYS = -1
    errors = check_usage_settings()
    assert [e.id for e in errors] == ["usage.E001", "usage.E002", "usage.E002", "usage.E002"]
    assert "Mars/Olympus" in errors[0].msg and "USAGE_MAX_SPEED_KMH" in errors[1].msg
    assert "USAGE_REPRICE_MAX_AGE_DAYS = -1 must be >= 0" in errors[3].msg
