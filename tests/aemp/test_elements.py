"""The pure mapping from stored documents to AEMP elements, and its XML form (no fixtures)."""

from __future__ import annotations

import ast
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from tests.aemp.conformance import NotConformant, strict_json, strict_xml
from tests.factories import T0, telemetry
from tests.properties import property_settings

T0_ISO = "2025-11-24T16:00:00Z"


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
        "EngineStatus": {"datetime": "2025-11-24T15:59:00Z", "Running": True},
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
        (1, 1, [("self", 1), ("last", 1)]),
        (1, 3, [("self", 1), ("next", 2), ("last", 3)]),
        (2, 3, [("self", 2), ("prev", 1), ("next", 3), ("last", 3)]),
        (3, 3, [("self", 3), ("prev", 2), ("last", 3)]),
    ],
)
def test_page_links(page, last, rels):
    assert page_links(page, last, lambda n: f"u/{n}") == [{"rel": rel, "href": f"u/{n}"} for rel, n in rels]


def test_aemp_datetime_is_utc_in_whole_seconds_unless_there_are_milliseconds():
    assert aemp_datetime(0) == "1970-01-01T00:00:00Z"
    assert aemp_datetime(T0) == T0_ISO
    assert aemp_datetime(T0 + 7) == "2025-11-24T16:00:00.007Z"
    assert aemp_datetime(T0 + 1000) == "2025-11-24T16:00:01Z"


def test_time_series_items():
    positions = [Position("EX1", T0, 45.0, 9.0), Position("EX1", T0 + 1000, 45.1, 9.1)]
    assert elements.location_items(positions) == [
        {"datetime": T0_ISO, "Latitude": 45.0, "Longitude": 9.0},
        {"datetime": "2025-11-24T16:00:01Z", "Latitude": 45.1, "Longitude": 9.1},
    ]
    readings = [{"timestamp": T0, "hours": 1.5, "km": None}, {"timestamp": T0 + 1, "hours": None, "km": 7.0}]
    assert elements.operating_hours_items(readings) == [{"datetime": T0_ISO, "Hour": 1.5}]
    assert elements.distance_items(readings) == [
        {"datetime": "2025-11-24T16:00:00.001Z", "OdometerUnits": "kilometre", "Odometer": 7.0}
    ]
    document = time_series("CumulativeOperatingHours", [{"datetime": T0_ISO, "Hour": 1.5}], [])
    assert document == {"Links": [], "CumulativeOperatingHours": [{"datetime": T0_ISO, "Hour": 1.5}]}


def test_numbers_the_feed_cannot_carry_are_unknown():
    state = state_of(telemetry("EX5", T0, hours=math.nan, km=math.inf, fuel_used=-math.inf, latitude=math.nan))
    assert set(equipment(state, None)) == {"EquipmentHeader", "EngineStatus", "FuelRemaining"}


def test_xml_of_a_fleet_is_what_a_strict_client_reads():
    full = equipment(state_of(telemetry("EX001", T0)), {"serial_number": "CAT0320EXAB123456"})
    sparse = equipment(state_of(telemetry("EX002", T0, latitude=None, longitude=None, fuel_used=None)), None)
    links = page_links(1, 1, lambda n: f"http://testserver/Fleet/{n}")
    document = to_xml("Fleet", elements.fleet([full, sparse], links, T0), elements.NAMESPACE)
    parsed = strict_xml(document, "Fleet")
    assert (parsed.version, str(parsed.snapshotTime)) == ("20190501", T0_ISO)
    root = ET.fromstring(document)
    n = "{" + elements.NAMESPACE + "}"
    assert root.attrib == {"version": "20190501", "snapshotTime": T0_ISO}
    first, second = root.findall(f"{n}Equipment")
    assert [child.tag[len(n) :] for child in first] == list(elements.EQUIPMENT_ORDER)
    assert first.find(f"{n}Location").attrib == {"datetime": T0_ISO}
    assert first.find(f"{n}Location/{n}Latitude").text == "45.46"
    assert first.find(f"{n}EngineStatus/{n}Running").text == "true"
    assert second.find(f"{n}Location") is None
    assert second.find(f"{n}FuelUsed") is None
    assert [link.find(f"{n}rel").text for link in root.findall(f"{n}Links")] == ["self", "last"]


def test_numbers_are_decimals_without_an_exponent():
    assert [xml_document.decimal_text(x) for x in (45.46, 100.0, 1e-7, 12345678901234567890.0, -0.5, 3)] == [
        "45.46",
        "100.0",
        "0.0000001",
        "12345678901234567000",
        "-0.5",
        "3",
    ]


def test_xml_escapes_text_and_skips_none():
    document = to_xml("Equipment", {"EquipmentHeader": {"OEMName": "A&B <x>", "Model": None}})
    header = ET.fromstring(document).find("EquipmentHeader")
    assert header.find("OEMName").text == "A&B <x>"
    assert header.find("Model") is None


# -- any stored value renders (issue 17) ----------------------------------------------------------

# Every code point, surrogates and controls included, and the strings that break naive writers.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
NASTY = st.sampled_from(
    ["\x00", "\x1b", "\ud800", "\udfff", "\ufffe", "]]>", "&amp;", '"', "'", "\r\n", "\r", "<![CDATA["]
)
ANY_TEXT = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=8), NASTY), max_size=6).map("".join)
NOT_XML = {chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"} | {"\ufffe", "\uffff"}


def expected_text(text: str) -> str:
    return "".join("\ufffd" if c in NOT_XML or 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


@property_settings(max_examples=150)
@given(identifier=ANY_TEXT, brand=ANY_TEXT, model=ANY_TEXT, serial=ANY_TEXT)
def test_any_stored_text_renders_as_xml_and_json_a_standard_parser_reads(identifier, brand, model, serial):
    state = state_of(telemetry(identifier or "x", T0, brand=brand or None, model=model))
    document = elements.fleet([equipment(state, {"serial_number": serial})], [], T0)
    xml = to_xml("Fleet", document, elements.NAMESPACE)
    n = "{" + elements.NAMESPACE + "}"
    header = ET.fromstring(xml).find(f"{n}Equipment/{n}EquipmentHeader")
    assert header.find(f"{n}EquipmentID").text == expected_text(identifier or "x")
    for tag, stored in (("OEMName", brand), ("Model", model), ("SerialNumber", serial)):
        found = header.find(f"{n}{tag}")
        assert (found.text or "" if found is not None else None) == (expected_text(stored) if stored else None)
    # JSON: the same values (the renderer encodes UTF-8, which a lone surrogate would break).
    assert json.loads(json.dumps(document, ensure_ascii=False).encode("utf-8")) == document
    strict_xml(xml, "Fleet")
    strict_json(document, "Fleet")


@property_settings(max_examples=100)
@given(detail=ANY_TEXT, key=st.sampled_from(["detail", "page", "endDateUTC"]))
def test_any_error_text_renders_as_xml(detail, key):
    """Error bodies echo the request (an identifier with %00 in the URL reaches the 404 detail)."""
    assert ET.fromstring(to_xml("Error", {key: [detail]})).find(key).text or expected_text(detail) == ""


def test_replaced_characters_are_documented_examples():
    state = state_of(telemetry("EX\x00\ud800", T0, brand="A\x1bB", model="]]>\r\n"))
    header = equipment(state, None)["EquipmentHeader"]
    assert header == {"OEMName": "A\ufffdB", "Model": "]]>\r\n", "EquipmentID": "EX\ufffd\ufffd"}
    xml = to_xml("Fleet", elements.fleet([equipment(state, None)], [], T0), elements.NAMESPACE)
    assert b"<Model>]]&gt;&#13;\n</Model>" in xml
    assert ET.fromstring(xml).find(f".//{{{elements.NAMESPACE}}}Model").text == "]]>\r\n"


# -- the validator is worth something only if it fails on a wrong document ------------------------


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        # What our feed used to send: the version and the snapshot time as child elements.
        (b"<Fleet xmlns='%s'><Version>20190501</Version></Fleet>", "Unknown property Fleet:Version"),
        (b"<Fleet xmlns='%s'/>", "Fleet: missing version"),
        (b"<Fleet xmlns='%s' version='1' snapshotTime='now'/>", "snapshotTime"),
        (b"<Fleet xmlns='%s' version='1'><Equipment/></Fleet>", "Equipment: missing EquipmentHeader"),
        (
            b"<Fleet xmlns='%s' version='1'><Equipment><EquipmentHeader/><Fuel/></Equipment></Fleet>",
            "Unknown property Equipment:Fuel",
        ),
        (
            b"<Fleet xmlns='%s' version='1'><Equipment><EquipmentHeader/><Location><Latitude>1</Latitude>"
            b"<Longitude>2</Longitude></Location></Equipment></Fleet>",
            "Location: missing datetime",
        ),
        (
            b"<Fleet xmlns='%s' version='1'><Equipment><EquipmentHeader/><Location datetime='2020-01-01T00:00:00Z'>"
            b"<Latitude>north</Latitude><Longitude>2</Longitude></Location></Equipment></Fleet>",
            "Location.Latitude",
        ),
        (
            b"<Fleet xmlns='%s' version='1'><Equipment><EquipmentHeader/><EngineStatus datetime='2020-01-01T00:00:00Z'>"
            b"<Running>yes</Running></EngineStatus></Equipment></Fleet>",
            "EngineStatus.Running",
        ),
        (b"<Fleet xmlns='%s' version='1'><Links><rel>up</rel><href>x</href></Links></Fleet>", "rel 'up'"),
        (b"<LocationMessages xmlns='%s' version='1'/>", "Unknown attribute LocationMessages:version"),
        (b"<Fleet xmlns='urn:other' version='1'/>", "namespace 'urn:other'"),
    ],
)
def test_the_validator_rejects(document, problem):
    if b"%s" in document:
        document = document % elements.NAMESPACE.encode()
    root = ET.fromstring(document).tag.rsplit("}", 1)[-1]
    with pytest.raises(NotConformant, match=problem.replace(".", r"\.").replace("(", r"\(")):
        strict_xml(document, root)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"Version": "1"}, "Unknown property Fleet.Version"),
        ({"version": "1", "Equipment": {"EquipmentHeader": {}}}, "Fleet.Equipment"),
        ({"version": "1", "Equipment": [{"EquipmentHeader": {}, "Fuel": {}}]}, "Equipment.Fuel"),
        (
            {
                "version": "1",
                "Equipment": [{"EquipmentHeader": {}, "EngineStatus": {"datetime": T0_ISO, "Running": "true"}}],
            },
            "is not a JSON boolean",
        ),
        (
            {
                "version": "1",
                "Equipment": [{"EquipmentHeader": {}, "FuelRemaining": {"datetime": T0_ISO, "Percent": "5"}}],
            },
            "is not a JSON number",
        ),
    ],
)
def test_the_validator_rejects_json(document, problem):
    with pytest.raises(NotConformant, match=problem):
        strict_json(document, "Fleet")
