"""The pure mapping from stored documents to AEMP elements, and its XML form (no fixtures)."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from equipment_current.aemp import elements, xml_document
from equipment_current.aemp.elements import (
    aemp_datetime,
    equipment,
    equipment_header,
    last_page,
    page_links,
    time_series,
)
from equipment_current.aemp.xml_document import to_xml
from equipment_current.business import fold_state_updates
from equipment_history.business import Position
from tests.aemp.standard import check
from tests.factories import T0, telemetry

T0_ISO = "2025-11-24T16:00:00.000Z"


def state_of(record: dict) -> dict:
    """The current-state document the repository stores for one record."""
    update = fold_state_updates([record])[record["identifier"]]
    return {
        "_id": update.identifier,
        "identifier": update.identifier,
        "last_event_at": update.last_event_at,
        **update.sections,
    }


def test_pure_modules_import_no_framework():
    for module in (elements, xml_document):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        }
        assert not imported & {"django", "rest_framework", "pymongo", "confluent_kafka"}, module.__name__


def test_full_machine_maps_every_element_with_its_own_datetime():
    state = state_of(telemetry("EX001", T0))
    state["engine"]["at"] = T0 - 60_000  # sections keep their own event times
    registry = {"serial_number": "CAT0320EXAB123456", "brand": "Caterpillar", "model": "320 GC"}
    assert equipment(state, registry) == {
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
        "EngineStatus": {"datetime": "2025-11-24T15:59:00.000Z", "Running": True},
        "FuelUsed": {"datetime": T0_ISO, "FuelUnits": "litre", "FuelConsumed": 1000.0},
        "FuelRemaining": {"datetime": T0_ISO, "Percent": 50.0},
    }


def test_unknown_elements_are_omitted_not_null():
    record = telemetry(
        "EX002", T0, latitude=None, longitude=None, hours=None, running=None, fuel_level=None, brand=None, model=None
    )
    document = equipment(state_of(record), None)
    assert document == {
        "EquipmentHeader": {"EquipmentID": "EX002"},
        "Distance": {"datetime": T0_ISO, "OdometerUnits": "kilometre", "Odometer": 5000.0},
        "FuelUsed": {"datetime": T0_ISO, "FuelUnits": "litre", "FuelConsumed": 1000.0},
    }
    assert None not in document.values()


def test_fuel_level_without_fuel_used_gives_only_fuel_remaining():
    document = equipment(state_of(telemetry("EX3", T0, fuel_used=None, fuel_level=12.5)), None)
    assert "FuelUsed" not in document
    assert document["FuelRemaining"] == {"datetime": T0_ISO, "Percent": 12.5}


def test_engine_stopped_is_false_not_omitted():
    assert equipment(state_of(telemetry("EX4", T0, running=False)), None)["EngineStatus"]["Running"] is False


@pytest.mark.parametrize(
    ("description", "registry", "header"),
    [
        # The registry wins over the telemetry description; the description fills what it lacks.
        (
            {"brand": "Cat", "model": "320"},
            {"brand": "Caterpillar", "model": None},
            {"OEMName": "Caterpillar", "Model": "320", "EquipmentID": "M1"},
        ),
        ({"brand": "Volvo", "model": "EC220E"}, None, {"OEMName": "Volvo", "Model": "EC220E", "EquipmentID": "M1"}),
        (None, {"brand": "", "model": "PC210"}, {"Model": "PC210", "EquipmentID": "M1"}),
        # A serial number that is not a 17-character ISO 10261 PIN is a serial number only.
        (None, {"serial_number": "SN-42"}, {"EquipmentID": "M1", "SerialNumber": "SN-42"}),
        (
            None,
            {"serial_number": "1DW644KZCKF123456"},
            {"EquipmentID": "M1", "SerialNumber": "1DW644KZCKF123456", "PIN": "1DW644KZCKF123456"},
        ),
        (None, {"serial_number": "1dw644kzckf123456"}, {"EquipmentID": "M1", "SerialNumber": "1dw644kzckf123456"}),
        (None, {"serial_number": "1DW644KZCKF1234567"}, {"EquipmentID": "M1", "SerialNumber": "1DW644KZCKF1234567"}),
        (None, {"serial_number": None}, {"EquipmentID": "M1"}),
    ],
)
def test_equipment_header(description, registry, header):
    result = equipment_header("M1", description, registry)
    assert result == header
    assert list(result) == list(header)  # the standard's order


@pytest.mark.parametrize(("count", "last"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3), (300, 3)])
def test_last_page(count, last):
    assert last_page(count) == last


@pytest.mark.parametrize(
    ("page", "last", "rels"),
    [
        (1, 1, [("self", 1), ("first", 1), ("last", 1)]),
        (1, 3, [("self", 1), ("first", 1), ("next", 2), ("last", 3)]),
        (2, 3, [("self", 2), ("first", 1), ("prev", 1), ("next", 3), ("last", 3)]),
        (3, 3, [("self", 3), ("first", 1), ("prev", 2), ("last", 3)]),
    ],
)
def test_page_links(page, last, rels):
    assert page_links(page, last, lambda n: f"u/{n}") == [{"rel": rel, "href": f"u/{n}"} for rel, n in rels]


def test_aemp_datetime_is_utc_with_milliseconds():
    assert aemp_datetime(0) == "1970-01-01T00:00:00.000Z"
    assert aemp_datetime(T0 + 7) == "2025-11-24T16:00:00.007Z"


def test_time_series_items():
    positions = [Position("EX1", T0, 45.0, 9.0), Position("EX1", T0 + 1000, 45.1, 9.1)]
    assert elements.location_items(positions) == [
        {"datetime": T0_ISO, "Latitude": 45.0, "Longitude": 9.0},
        {"datetime": "2025-11-24T16:00:01.000Z", "Latitude": 45.1, "Longitude": 9.1},
    ]
    readings = [{"timestamp": T0, "hours": 1.5, "km": None}, {"timestamp": T0 + 1, "hours": None, "km": 7.0}]
    assert elements.operating_hours_items(readings) == [{"datetime": T0_ISO, "Hour": 1.5}]
    assert elements.distance_items(readings) == [
        {"datetime": "2025-11-24T16:00:00.001Z", "OdometerUnits": "kilometre", "Odometer": 7.0}
    ]
    document = time_series("CumulativeOperatingHours", [{"datetime": T0_ISO, "Hour": 1.5}], [], T0)
    assert document == {
        "Version": "20190501",
        "SnapshotTime": T0_ISO,
        "Links": [],
        "CumulativeOperatingHours": [{"datetime": T0_ISO, "Hour": 1.5}],
    }


def test_xml_of_a_fleet_matches_the_standard():
    full = equipment(state_of(telemetry("EX001", T0)), {"serial_number": "CAT0320EXAB123456"})
    sparse = equipment(state_of(telemetry("EX002", T0, latitude=None, longitude=None, fuel_used=None)), None)
    links = page_links(1, 1, lambda n: f"http://testserver/Fleet/{n}")
    document = to_xml("Fleet", elements.fleet([full, sparse], links, T0), elements.NAMESPACE)
    assert check(document, "Fleet") == []
    root = ET.fromstring(document)
    n = "{" + elements.NAMESPACE + "}"
    first, second = root.findall(f"{n}Equipment")
    assert first.find(f"{n}Location").attrib == {"datetime": T0_ISO}
    assert first.find(f"{n}Location/{n}Latitude").text == "45.46"
    assert first.find(f"{n}EngineStatus/{n}Running").text == "true"
    assert second.find(f"{n}Location") is None
    assert second.find(f"{n}FuelUsed") is None
    assert [link.find(f"{n}rel").text for link in root.findall(f"{n}Links")] == ["self", "first", "last"]


def test_the_checker_catches_deviations():
    """The structure check is only worth something if it fails on a wrong document."""
    bad = {
        "Version": "20190501",
        "SnapshotTime": T0_ISO,
        "Links": [{"rel": "self", "href": "http://x/1"}],
        "Equipment": [
            {
                "EquipmentHeader": {"OEMName": "Cat"},  # no EquipmentID
                "Location": {"Latitude": 1.0, "Longitude": "east"},  # no datetime, not a decimal
                "Distance": {"datetime": T0_ISO, "OdometerUnits": "mile", "Odometer": 3.0},
                "Fuel": {"datetime": T0_ISO},
            }
        ],
    }
    problems = check(to_xml("Fleet", bad, elements.NAMESPACE), "Fleet")
    assert problems == [
        "Fleet/Equipment/EquipmentHeader: EquipmentID occurs 0 times, expected once",
        "Fleet/Equipment/Location: missing attribute 'datetime'",
        "Fleet/Equipment/Location/Longitude: 'east' is not a decimal",
        "Fleet/Equipment/Distance/OdometerUnits: 'mile' is not a kilometre",
        "Fleet/Equipment/Fuel: unexpected element",
    ]
    assert check(to_xml("Fleet", {}, None), "Fleet") == [
        "root is Fleet, expected {http://standards.iso.org/iso/15143/-3}Fleet"
    ]


def test_xml_escapes_text_and_skips_none():
    document = to_xml("Equipment", {"EquipmentHeader": {"OEMName": "A&B <x>", "Model": None}})
    header = ET.fromstring(document).find("EquipmentHeader")
    assert header.find("OEMName").text == "A&B <x>"
    assert header.find("Model") is None
