"""The AEMP endpoints over HTTP (DRF APIClient, in-process database), in JSON and in XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from equipment_history.business import Position
from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from telemetry_site.backends import repositories
from tests.aemp.conformance import ISO_NAMESPACE as NAMESPACE
from tests.aemp.conformance import strict_json, strict_xml
from tests.aemp.conftest import END, START, RecordingPublisher, apply
from tests.factories import T0, telemetry

BASE = "/aemp/v2/15143/-3"
XML = {"HTTP_ACCEPT": "application/xml"}
H = 3_600_000
T0_ISO = "2025-11-24T16:00:00Z"


def ns(path: str) -> str:
    """An ElementTree path in the standard's namespace: ``ns("Equipment/Location")``."""
    return "/".join(f"{{{NAMESPACE}}}{part}" for part in path.split("/"))


def xml_of(response) -> ET.Element:
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    return ET.fromstring(response.content)  # well-formed, or this raises


def links(body: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["Links"]}


def xml_links(root: ET.Element) -> dict[str, str]:
    return {link.find(ns("rel")).text: link.find(ns("href")).text for link in root.findall(ns("Links"))}


@pytest.fixture
def retention(settings):
    """Positions of the test data (T0 is in 2025) outlive the TTL index: ten years of retention."""
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "collection": "positions", "retention_days": 3650},
        },
    }


@pytest.fixture
def fleet_250(mongo_db):
    apply(*(telemetry(f"M{i:03d}", T0 + i) for i in range(250)))


@pytest.fixture
def machines(retention, mongo_db):
    """EX001 reports everything and has registry records; EX002 has no GPS, engine or fuel level."""
    apply(telemetry("EX001", T0))
    apply(telemetry("EX002", T0, latitude=None, longitude=None, running=None, fuel_level=None, brand=None))
    repositories["equipment_registry"].store(
        [
            {"identifier": "EX001", "serial_number": "OLD", "brand": "Cat", "model": "320", "last_update": 1},
            {
                "identifier": "EX001",
                "serial_number": "CAT0320EXAB123456",
                "brand": "Caterpillar",
                "model": "320 GC",
                "last_update": 2,
            },
        ]
    )


# -- fleet ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "count", "first_id", "rels"),
    [
        (1, 100, "M000", {"self": 1, "next": 2, "last": 3}),
        (2, 100, "M100", {"self": 2, "prev": 1, "next": 3, "last": 3}),
        (3, 50, "M200", {"self": 3, "prev": 2, "last": 3}),
    ],
)
def test_fleet_pages_json(api_client, fleet_250, page, count, first_id, rels):
    response = api_client.get(f"{BASE}/Fleet/{page}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    strict_json(response.content, "Fleet")
    assert body["version"] == "20190501"
    assert body["snapshotTime"].endswith("Z")
    assert len(body["Equipment"]) == count
    ids = [item["EquipmentHeader"]["EquipmentID"] for item in body["Equipment"]]
    assert ids[0] == first_id
    assert ids == sorted(ids)
    assert links(body) == {rel: f"http://testserver{BASE}/Fleet/{n}" for rel, n in rels.items()}
    assert [link["rel"] for link in body["Links"]] == list(rels)


@pytest.mark.parametrize(
    ("page", "count", "rels"),
    [
        (1, 100, {"self": 1, "next": 2, "last": 3}),
        (2, 100, {"self": 2, "prev": 1, "next": 3, "last": 3}),
        (3, 50, {"self": 3, "prev": 2, "last": 3}),
    ],
)
def test_fleet_pages_xml(api_client, fleet_250, page, count, rels):
    response = api_client.get(f"{BASE}/Fleet/{page}", **XML)
    assert response.status_code == 200
    strict_xml(response.content, "Fleet")
    root = xml_of(response)
    assert root.tag == f"{{{NAMESPACE}}}Fleet"
    assert root.get("version") == "20190501"
    assert [child.tag for child in root][: len(rels)] == [f"{{{NAMESPACE}}}Links"] * len(rels)  # Links first
    assert len(root.findall(ns("Equipment"))) == count
    assert xml_links(root) == {rel: f"http://testserver{BASE}/Fleet/{n}" for rel, n in rels.items()}


def test_fleet_json_carries_every_known_element_and_omits_the_unknown(api_client, machines):
    equipment = api_client.get(f"{BASE}/Fleet/1").json()["Equipment"]
    full, sparse = equipment
    assert full == {
        "EquipmentHeader": {
            "OEMName": "Caterpillar",
            "Model": "320 GC",
            "EquipmentID": "EX001",
            "SerialNumber": "CAT0320EXAB123456",
            "PIN": "CAT0320EXAB123456",
        },
        "Location": {"datetime": T0_ISO, "Latitude": 45.46, "Longitude": 9.19},
        "CumulativeOperatingHours": {"datetime": T0_ISO, "Hour": 100.0},
        "Distance": {"datetime": T0_ISO, "OdometerUnits": "kilometre", "Odometer": 5000.0},
        "EngineStatus": {"datetime": T0_ISO, "Running": True},
        "FuelUsed": {"datetime": T0_ISO, "FuelUnits": "litre", "FuelConsumed": 1000.0},
        "FuelRemaining": {"datetime": T0_ISO, "Percent": 50.0},
    }
    # No GPS, engine or fuel level, no registry record, no brand: absent, not null.
    assert sparse == {
        "EquipmentHeader": {"Model": "320", "EquipmentID": "EX002"},
        "CumulativeOperatingHours": {"datetime": T0_ISO, "Hour": 100.0},
        "Distance": {"datetime": T0_ISO, "OdometerUnits": "kilometre", "Odometer": 5000.0},
        "FuelUsed": {"datetime": T0_ISO, "FuelUnits": "litre", "FuelConsumed": 1000.0},
    }


def test_fleet_xml_omits_unknown_elements(api_client, machines):
    response = api_client.get(f"{BASE}/Fleet/1", **XML)
    strict_xml(response.content, "Fleet")
    full, sparse = xml_of(response).findall(ns("Equipment"))
    assert [child.tag.split("}")[1] for child in full] == [
        "EquipmentHeader",
        "Location",
        "CumulativeOperatingHours",
        "Distance",
        "EngineStatus",
        "FuelUsed",
        "FuelRemaining",
    ]
    assert full.find(ns("Location")).get("datetime") == T0_ISO
    assert full.find(ns("EquipmentHeader/PIN")).text == "CAT0320EXAB123456"
    assert [child.tag.split("}")[1] for child in sparse] == [
        "EquipmentHeader",
        "CumulativeOperatingHours",
        "Distance",
        "FuelUsed",
    ]
    assert sparse.find(ns("EquipmentHeader/OEMName")) is None


def test_empty_fleet_has_one_empty_page(api_client, mongo_db):
    body = api_client.get(f"{BASE}/Fleet/1").json()
    assert body["Equipment"] == []
    assert links(body) == {rel: f"http://testserver{BASE}/Fleet/1" for rel in ("self", "last")}
    response = api_client.get(f"{BASE}/Fleet/1", **XML)
    strict_xml(response.content, "Fleet")
    assert xml_of(response).findall(ns("Equipment")) == []


def test_page_past_the_last_is_404(api_client, fleet_250):
    response = api_client.get(f"{BASE}/Fleet/4")
    assert response.status_code == 404
    assert response.json() == {"detail": "Page 4 does not exist; the last page is 3."}
    response = api_client.get(f"{BASE}/Fleet/4", **XML)
    assert response.status_code == 404
    assert xml_of(response).find("detail").text == "Page 4 does not exist; the last page is 3."


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5"])
def test_bad_page_is_400_naming_page(api_client, mongo_db, page):
    response = api_client.get(f"{BASE}/Fleet/{page}")
    assert response.status_code == 400
    assert list(response.json()) == ["page"]
    response = api_client.get(f"{BASE}/Fleet/{page}", **XML)
    assert response.status_code == 400
    root = xml_of(response)
    assert root.tag == "Error"
    assert [child.tag for child in root] == ["page"]


def test_snapshot_time_is_the_time_of_the_answer(api_client, machines):
    before = datetime.now(UTC).replace(microsecond=0)
    body = api_client.get(f"{BASE}/Fleet/1").json()
    after = datetime.now(UTC)
    assert before <= datetime.fromisoformat(body["snapshotTime"].replace("Z", "+00:00")) <= after


def test_format_query_parameter_selects_xml(api_client, machines):
    response = api_client.get(f"{BASE}/Fleet/1", {"format": "xml"})
    strict_xml(response.content, "Fleet")


# -- one machine ---------------------------------------------------------------------------------


def test_equipment_json(api_client, machines):
    """The single-element snapshot is a Fleet holding the one machine, without links (Takeuchi)."""
    response = api_client.get(f"{BASE}/Fleet/Equipment/ID/EX002")
    assert response.status_code == 200
    body = response.json()
    strict_json(response.content, "Fleet")
    assert list(body) == ["version", "snapshotTime", "Equipment"]
    assert body["Equipment"] == [
        {
            "EquipmentHeader": {"Model": "320", "EquipmentID": "EX002"},
            "CumulativeOperatingHours": {"datetime": T0_ISO, "Hour": 100.0},
            "Distance": {"datetime": T0_ISO, "OdometerUnits": "kilometre", "Odometer": 5000.0},
            "FuelUsed": {"datetime": T0_ISO, "FuelUnits": "litre", "FuelConsumed": 1000.0},
        }
    ]
    header = api_client.get(f"{BASE}/Fleet/Equipment/ID/EX001").json()["Equipment"][0]["EquipmentHeader"]
    assert header["SerialNumber"] == "CAT0320EXAB123456"  # the newest registry record


def test_equipment_xml(api_client, machines):
    response = api_client.get(f"{BASE}/Fleet/Equipment/ID/EX001", **XML)
    assert response.status_code == 200
    strict_xml(response.content, "Fleet")
    root = xml_of(response)
    assert root.tag == f"{{{NAMESPACE}}}Fleet"
    assert root.findall(ns("Links")) == []
    (machine,) = root.findall(ns("Equipment"))
    assert machine.find(ns("EngineStatus")).get("datetime") == T0_ISO
    assert machine.find(ns("EngineStatus/Running")).text == "true"
    assert machine.find(ns("Distance/OdometerUnits")).text == "kilometre"
    assert machine.find(ns("FuelUsed/FuelUnits")).text == "litre"


def test_unknown_equipment_is_404(api_client, mongo_db):
    response = api_client.get(f"{BASE}/Fleet/Equipment/ID/NOPE")
    assert response.status_code == 404
    assert response.json() == {"detail": "No machine 'NOPE' has reported."}
    response = api_client.get(f"{BASE}/Fleet/Equipment/ID/NOPE", **XML)
    assert response.status_code == 404
    assert xml_of(response).find("detail").text == "No machine 'NOPE' has reported."


# -- time series ---------------------------------------------------------------------------------


@pytest.fixture
def series(machines):
    """EX001: 250 positions one minute apart from T0; four readings, one of them without km."""
    repositories["positions"].insert(Position("EX001", T0 + i * 60_000, 45.0 + i / 1000, 9.0) for i in range(250))
    UsageHandler(publisher=RecordingPublisher(), rules=UsageRules()).process(
        [
            Reading("EX001", T0, 100.0, 5000.0),
            Reading("EX001", T0 + H, 101.0, None),
            Reading("EX001", T0 + 2 * H, 102.0, 5010.0),
            Reading("EX001", T0 + 9 * H, 103.0, 5020.0),  # 2025-11-25T01:00Z: outside the range
        ]
    )


def series_url(element: str, page: int | str = 1, machine: str = "EX001", start: str = START, end: str = END) -> str:
    return f"{BASE}/Fleet/Equipment/ID/{machine}/{element}/{start}/{end}/{page}"


@pytest.mark.parametrize(
    ("page", "count", "first", "rels"),
    [
        (1, 100, 0, {"self": 1, "next": 2, "last": 3}),
        (2, 100, 100, {"self": 2, "prev": 1, "next": 3, "last": 3}),
        (3, 50, 200, {"self": 3, "prev": 2, "last": 3}),
    ],
)
def test_locations_pages_json_and_xml(api_client, series, page, count, first, rels):
    body = api_client.get(series_url("Locations", page)).json()
    assert len(body["Location"]) == count
    assert body["Location"][0] == {
        "datetime": f"2025-11-24T{16 + first // 60:02d}:{first % 60:02d}:00Z",
        "Latitude": 45.0 + first / 1000,
        "Longitude": 9.0,
    }
    expected_links = {rel: f"http://testserver{series_url('Locations', n)}" for rel, n in rels.items()}
    assert links(body) == expected_links

    response = api_client.get(series_url("Locations", page), **XML)
    strict_xml(response.content, "LocationMessages")
    root = xml_of(response)
    assert root.tag == f"{{{NAMESPACE}}}LocationMessages"
    assert len(root.findall(ns("Location"))) == count
    assert xml_links(root) == expected_links


def test_cumulative_operating_hours_json_and_xml(api_client, series):
    body = api_client.get(series_url("CumulativeOperatingHours")).json()
    assert body["CumulativeOperatingHours"] == [
        {"datetime": T0_ISO, "Hour": 100.0},
        {"datetime": "2025-11-24T17:00:00Z", "Hour": 101.0},
        {"datetime": "2025-11-24T18:00:00Z", "Hour": 102.0},
    ]
    response = api_client.get(series_url("CumulativeOperatingHours"), **XML)
    strict_xml(response.content, "CumulativeOperatingHoursMessages")
    items = xml_of(response).findall(ns("CumulativeOperatingHours"))
    assert [(item.get("datetime"), item.find(ns("Hour")).text) for item in items] == [
        (T0_ISO, "100.0"),
        ("2025-11-24T17:00:00Z", "101.0"),
        ("2025-11-24T18:00:00Z", "102.0"),
    ]


def test_distance_skips_readings_without_km_json_and_xml(api_client, series):
    body = api_client.get(series_url("Distance")).json()
    assert body["Distance"] == [
        {"datetime": T0_ISO, "OdometerUnits": "kilometre", "Odometer": 5000.0},
        {"datetime": "2025-11-24T18:00:00Z", "OdometerUnits": "kilometre", "Odometer": 5010.0},
    ]
    assert links(body) == {rel: f"http://testserver{series_url('Distance', 1)}" for rel in ("self", "last")}
    response = api_client.get(series_url("Distance"), **XML)
    strict_xml(response.content, "DistanceMessages")
    assert [item.find(ns("Odometer")).text for item in xml_of(response).findall(ns("Distance"))] == [
        "5000.0",
        "5010.0",
    ]


@pytest.mark.parametrize(
    ("element", "item", "type_name"),
    [
        ("Locations", "Location", "LocationMessages"),
        ("CumulativeOperatingHours", "CumulativeOperatingHours", "CumulativeOperatingHoursMessages"),
        ("Distance", "Distance", "DistanceMessages"),
    ],
)
def test_machine_without_data_in_the_range_has_an_empty_series(api_client, machines, element, item, type_name):
    body = api_client.get(series_url(element, machine="EX002")).json()
    assert body[item] == []
    response = api_client.get(series_url(element, machine="EX002"), **XML)
    assert strict_xml(response.content, type_name)
    assert xml_of(response).findall(ns(item)) == []


@pytest.fixture
def readings(machines):
    """EX001: 130 readings one minute apart from T0 (16:00Z to 18:09Z), one more the next day."""
    minutes = [Reading("EX001", T0 + i * 60_000, 100.0 + i / 60, 5000.0 + i / 2) for i in range(130)]
    UsageHandler(publisher=RecordingPublisher(), rules=UsageRules()).process(
        [*minutes, Reading("EX001", T0 + 9 * H, 103.0, 5100.0)]
    )
    return minutes


def aemp_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("element", "value", "of"),
    [
        ("CumulativeOperatingHours", "Hour", lambda reading: reading.hours),
        ("Distance", "Odometer", lambda reading: reading.km),
    ],
)
def test_readings_page_through_the_range_a_hundred_at_a_time(api_client, readings, element, value, of):
    first = api_client.get(series_url(element, 1)).json()
    second = api_client.get(series_url(element, 2)).json()
    assert [(item["datetime"], item[value]) for item in first[element] + second[element]] == [
        (aemp_iso(reading.timestamp), of(reading)) for reading in readings
    ]  # the reading of the next day is outside the range
    assert len(first[element]) == 100
    pages = {1: {"self": 1, "next": 2, "last": 2}, 2: {"self": 2, "prev": 1, "last": 2}}
    for body, rels in ((first, pages[1]), (second, pages[2])):
        assert links(body) == {rel: f"http://testserver{series_url(element, n)}" for rel, n in rels.items()}
    assert api_client.get(series_url(element, 3)).json() == {"detail": "Page 3 does not exist; the last page is 2."}


def test_series_page_past_the_last_is_404(api_client, series):
    response = api_client.get(series_url("Distance", 2))
    assert response.status_code == 404
    assert response.json() == {"detail": "Page 2 does not exist; the last page is 1."}


def test_series_of_unknown_machine_is_404(api_client, mongo_db):
    assert api_client.get(series_url("Locations", machine="NOPE")).status_code == 404


def test_unknown_element_is_404_naming_the_supported_ones(api_client, mongo_db):
    for headers in ({}, XML):
        response = api_client.get(series_url("FuelUsed"), **headers)
        assert response.status_code == 404
        detail = "Unknown element 'FuelUsed'; supported time series: Locations, CumulativeOperatingHours, Distance."
        if headers:
            assert xml_of(response).find("detail").text == detail
        else:
            assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("start", "end", "page", "field"),
    [
        ("yesterday", END, 1, "startDateUTC"),
        (START, "2025-13-01T00:00:00Z", 1, "endDateUTC"),
        (END, START, 1, "endDateUTC"),  # start after end
        (START, START, 1, "endDateUTC"),  # empty range
        ("2025-10-01T00:00:00Z", "2025-11-24T00:00:00Z", 1, "endDateUTC"),  # more than 31 days
        (START, END, 0, "page"),
    ],
)
def test_bad_series_parameters_are_400_naming_the_field(api_client, machines, start, end, page, field):
    for element in ("Locations", "CumulativeOperatingHours", "Distance"):
        response = api_client.get(series_url(element, page, start=start, end=end))
        assert response.status_code == 400
        assert list(response.json()) == [field], response.json()
    response = api_client.get(series_url("Locations", page, start=start, end=end), **XML)
    assert response.status_code == 400
    assert [child.tag for child in xml_of(response)] == [field]


def test_series_range_may_span_exactly_the_maximum_and_errors_say_why(api_client, machines, settings):
    settings.HISTORY_MAX_SPAN_DAYS = 2
    assert api_client.get(series_url("Locations", start="2025-11-23T00:00:00Z", end=END)).status_code == 200
    longer = api_client.get(series_url("Locations", start="2025-11-22T23:59:59.999Z", end=END))
    assert (longer.status_code, longer.json()) == (400, {"endDateUTC": ["The range may span at most 2 days."]})
    backwards = api_client.get(series_url("Distance", start=END, end=START))
    assert (backwards.status_code, backwards.json()) == (400, {"endDateUTC": ["Must be later than startDateUTC."]})


def test_dates_with_an_offset_are_accepted(api_client, series):
    # 2025-11-24T17:30+01:00 is 16:30Z: the positions of 16:00Z to 16:29Z are before it.
    body = api_client.get(series_url("Locations", start="2025-11-24T17:30:00+01:00", end=END)).json()
    assert body["Location"][0]["datetime"] == "2025-11-24T16:30:00Z"
    assert len(body["Location"]) == 100


def test_the_schema_documents_every_value_time_as_its_event_time_in_utc(api_client):
    schemas = api_client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    documented = {name: schema.get("properties", {}).get("datetime") for name, schema in schemas.items()}
    documented = {name: field for name, field in documented.items() if field}
    assert documented == {
        name: {
            "type": "string",
            "format": "date-time",
            "description": "Event time of the value, UTC (an attribute in XML)",
        }
        for name in (
            "AempLocation",
            "AempCumulativeOperatingHours",
            "AempDistance",
            "AempEngineStatus",
            "AempFuelUsed",
            "AempFuelRemaining",
        )
    }


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/Fleet/1",
        f"{BASE}/Fleet/Equipment/ID/EX001",
        f"{BASE}/Fleet/Equipment/ID/EX001/Locations/{START}/{END}/1",
        f"{BASE}/Fleet/Equipment/ID/EX001/CumulativeOperatingHours/{START}/{END}/1",
        f"{BASE}/Fleet/Equipment/ID/EX001/Distance/{START}/{END}/1",
    ],
)
def test_authentication_is_required(mongo_db, path):
    for headers in ({}, XML):
        response = APIClient().get(path, **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"


def test_stored_names_xml_cannot_carry_still_render(api_client, mongo_db):
    """Data stored before the consumer refused control characters still renders (docs/AEMP.md)."""
    apply(telemetry("EX009", T0, brand="Cat\x00\x1b", model='320 "]]>\r\n'))
    json_answer = api_client.get(f"{BASE}/Fleet/Equipment/ID/EX009")
    xml_answer = api_client.get(f"{BASE}/Fleet/Equipment/ID/EX009", **XML)
    expected = {"OEMName": "Cat\ufffd\ufffd", "Model": '320 "]]>\r\n', "EquipmentID": "EX009"}
    assert json_answer.json()["Equipment"][0]["EquipmentHeader"] == expected
    header = xml_of(xml_answer).find(ns("Equipment/EquipmentHeader"))
    assert {child.tag.split("}")[1]: child.text for child in header} == expected
    strict_xml(xml_answer.content, "Fleet")
    strict_json(json_answer.content, "Fleet")
