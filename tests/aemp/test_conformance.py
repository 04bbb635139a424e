"""Conformance: every AEMP answer, XML and JSON, read strictly the way a real client reads it
(``tests/aemp/conformance.py``), and the same reader taking the published OEM samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from equipment_current.aemp.client import parse_xml
from tests.aemp.conformance import ISO_NAMESPACE, KNOWN_NAMESPACES, strict_json, strict_xml
from tests.aemp.conftest import BASE, END, START

SAMPLES = Path(__file__).parent / "samples"
XML = {"HTTP_ACCEPT": "application/xml"}


def series(element: str, page: int, machine: str = "M000") -> str:
    return f"{BASE}/Fleet/Equipment/ID/{machine}/{element}/{START}/{END}/{page}"


# (path, root, records on the page): each document at and across its page boundary, and with
# sections missing (M001 reported only its description) or empty (M001 has no series).
ANSWERS = [
    (f"{BASE}/Fleet/1", "Fleet", 100),
    (f"{BASE}/Fleet/2", "Fleet", 100),
    (f"{BASE}/Fleet/3", "Fleet", 1),
    (f"{BASE}/Fleet/Equipment/ID/M000", "Fleet", 1),
    (f"{BASE}/Fleet/Equipment/ID/M001", "Fleet", 1),
    *(
        (series(element, page, machine), root, count)
        for element, root in (
            ("Locations", "LocationMessages"),
            ("CumulativeOperatingHours", "CumulativeOperatingHoursMessages"),
            ("Distance", "DistanceMessages"),
        )
        for machine, page, count in (("M000", 1, 100), ("M000", 2, 1), ("M001", 1, 0))
    ),
]


def record_count(parsed: object) -> int:
    return sum(len(value) for name, value in vars(parsed).items() if name != "Links" and isinstance(value, list))


@pytest.mark.parametrize(("path", "root", "count"), ANSWERS, ids=[path[len(BASE) :] for path, _, _ in ANSWERS])
def test_every_answer_is_read_strictly_in_xml_and_json_and_both_say_the_same(
    api_client, boundary_feed, path, root, count
):
    as_json = api_client.get(path)
    as_xml = api_client.get(path, **XML)
    assert (as_json.status_code, as_xml.status_code) == (200, 200)
    assert record_count(strict_json(as_json.content, root)) == count
    assert record_count(strict_xml(as_xml.content, root)) == count
    # The two bindings carry the same document: element names, attributes, values, order of lists.
    xml_root, xml_document = parse_xml(as_xml.content)
    assert xml_root == root
    body = as_json.json()
    if "snapshotTime" in body:  # two requests, two answer times
        body["snapshotTime"] = xml_document["snapshotTime"]
    assert xml_document == {key: value for key, value in body.items() if value != []}


def test_the_sparse_machine_has_only_its_header(api_client, boundary_feed):
    parsed = strict_xml(api_client.get(f"{BASE}/Fleet/Equipment/ID/M001", **XML).content, "Fleet")
    (machine,) = parsed.Equipment
    assert [name for name, value in vars(machine).items() if value is not None] == ["EquipmentHeader"]
    assert machine.EquipmentHeader.EquipmentID == "M001"


# -- published samples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "root", "records"),
    [
        ("wacker_neuson_trackunit_fleet.xml", "Fleet", 4),
        ("takeuchi_tfm_fleet.xml", "Fleet", 3),
        ("tigercat_location_messages.xml", "LocationMessages", 3),
        ("tigercat_engine_status_messages.xml", "EngineStatusMessages", 3),
    ],
)
def test_the_reader_takes_what_oems_publish(sample, root, records):
    """If the reader rejected these, the reader would be wrong, not the OEMs."""
    parsed = strict_xml((SAMPLES / sample).read_bytes(), root, KNOWN_NAMESPACES)
    assert record_count(parsed) == records


def test_what_the_samples_teach():
    """The rules docs/AEMP.md takes from the samples, checked on the samples themselves."""
    wacker = strict_xml((SAMPLES / "wacker_neuson_trackunit_fleet.xml").read_bytes(), "Fleet")
    takeuchi = strict_xml((SAMPLES / "takeuchi_tfm_fleet.xml").read_bytes(), "Fleet", KNOWN_NAMESPACES)
    assert (wacker.version, takeuchi.version) == ("0", "20190501")  # an attribute of the root
    assert wacker.Equipment[0].CumulativeOperatingHours.datetime is not None  # attribute
    assert takeuchi.Equipment[1].CumulativeOperatingHours.datetime_element is not None  # Takeuchi's child
    assert wacker.Equipment[1].EquipmentHeader.OEMName is None  # every header field may be missing
    assert {link.rel for link in wacker.Links + takeuchi.Links} == {"self", "prev", "next", "last"}
    assert (wacker.Equipment[0].Distance.OdometerUnits, takeuchi.Equipment[1].FuelUsed.FuelUnits) == (
        "kilometre",
        "litre",
    )
    tigercat = strict_xml((SAMPLES / "tigercat_location_messages.xml").read_bytes(), "LocationMessages")
    assert [link.rel for link in tigercat.Links] == ["prev", "self"]
    assert ISO_NAMESPACE in KNOWN_NAMESPACES
