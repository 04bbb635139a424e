"""The element names of ISO 15143-3 (AEMP 2.0) this backend serves, written down for the tests.

The ISO text is not public; these names follow the public implementers' documentation listed in
docs/AEMP.md. Each element type lists its attributes and its child elements with how often they
occur: "1" exactly once, "?" at most once, "*" any number of times. A child type is either another
element type of ``STANDARD`` or a simple type of ``SIMPLE_TYPES``. ``check`` walks a parsed XML
document and returns every deviation, so a test asserts ``check(...) == []``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

NAMESPACE = "http://standards.iso.org/iso/15143/-3"


def _is_datetime(text: str) -> bool:
    try:
        return text.endswith("Z") and datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _is_decimal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


SIMPLE_TYPES = {
    "string": lambda text: bool(text),
    "dateTime": _is_datetime,  # xs:dateTime in UTC
    "decimal": _is_decimal,
    "boolean": lambda text: text in ("true", "false"),  # xs:boolean as written
    "kilometre": lambda text: text == "kilometre",
    "litre": lambda text: text == "litre",
    "rel": lambda text: text in ("self", "first", "prev", "next", "last"),
    "url": lambda text: text.startswith("http"),
}

TIMESTAMPED = {"datetime": "dateTime"}
DOCUMENT = {"Version": ("string", "1"), "SnapshotTime": ("dateTime", "1"), "Links": ("Link", "*")}

STANDARD: dict[str, dict] = {
    "Fleet": {"tag": "Fleet", "attributes": {}, "children": {**DOCUMENT, "Equipment": ("Equipment", "*")}},
    "Link": {"attributes": {}, "children": {"rel": ("rel", "1"), "href": ("url", "1")}},
    "Equipment": {
        "tag": "Equipment",
        "attributes": {},
        "children": {
            "EquipmentHeader": ("EquipmentHeader", "1"),
            "Location": ("Location", "?"),
            "CumulativeOperatingHours": ("CumulativeOperatingHours", "?"),
            "Distance": ("Distance", "?"),
            "EngineStatus": ("EngineStatus", "?"),
            "FuelUsed": ("FuelUsed", "?"),
            "FuelRemaining": ("FuelRemaining", "?"),
        },
    },
    "EquipmentHeader": {
        "attributes": {},
        "children": {
            "OEMName": ("string", "?"),
            "Model": ("string", "?"),
            "EquipmentID": ("string", "1"),
            "SerialNumber": ("string", "?"),
            "PIN": ("string", "?"),
        },
    },
    "Location": {
        "attributes": TIMESTAMPED,
        "children": {"Latitude": ("decimal", "1"), "Longitude": ("decimal", "1")},
    },
    "CumulativeOperatingHours": {"attributes": TIMESTAMPED, "children": {"Hour": ("decimal", "1")}},
    "Distance": {
        "attributes": TIMESTAMPED,
        "children": {"OdometerUnits": ("kilometre", "1"), "Odometer": ("decimal", "1")},
    },
    "EngineStatus": {"attributes": TIMESTAMPED, "children": {"Running": ("boolean", "1")}},
    "FuelUsed": {
        "attributes": TIMESTAMPED,
        "children": {"FuelUnits": ("litre", "1"), "FuelConsumed": ("decimal", "1")},
    },
    "FuelRemaining": {"attributes": TIMESTAMPED, "children": {"Percent": ("decimal", "1")}},
    # Time series: a root holding one item element per value.
    "Locations": {"tag": "Locations", "attributes": {}, "children": {**DOCUMENT, "Location": ("Location", "*")}},
    "CumulativeOperatingHoursSeries": {
        "tag": "CumulativeOperatingHours",
        "attributes": {},
        "children": {**DOCUMENT, "CumulativeOperatingHours": ("CumulativeOperatingHours", "*")},
    },
    "DistanceSeries": {
        "tag": "Distance",
        "attributes": {},
        "children": {**DOCUMENT, "Distance": ("Distance", "*")},
    },
}


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check(element: ET.Element, type_name: str, path: str, problems: list[str]) -> None:
    spec = STANDARD[type_name]
    for name, value in element.attrib.items():
        if name not in spec["attributes"]:
            problems.append(f"{path}: unexpected attribute {name!r}")
        elif not SIMPLE_TYPES[spec["attributes"][name]](value):
            problems.append(f"{path}/@{name}: {value!r} is not a {spec['attributes'][name]}")
    for name in spec["attributes"]:
        if name not in element.attrib:
            problems.append(f"{path}: missing attribute {name!r}")
    if (element.text or "").strip():
        problems.append(f"{path}: unexpected text {element.text!r}")
    seen: dict[str, int] = {}
    order = list(spec["children"])
    last_index = -1
    for child in element:
        name = local_name(child.tag)
        child_path = f"{path}/{name}"
        if child.tag != f"{{{NAMESPACE}}}{name}":
            problems.append(f"{child_path}: not in the namespace {NAMESPACE}")
        if name not in spec["children"]:
            problems.append(f"{child_path}: unexpected element")
            continue
        index = order.index(name)
        if index < last_index:
            problems.append(f"{child_path}: out of order")
        last_index = index
        seen[name] = seen.get(name, 0) + 1
        child_type, _ = spec["children"][name]
        if child_type in SIMPLE_TYPES:
            if len(child) or child.attrib:
                problems.append(f"{child_path}: a {child_type} has no children or attributes")
            elif not SIMPLE_TYPES[child_type](child.text or ""):
                problems.append(f"{child_path}: {child.text!r} is not a {child_type}")
        else:
            _check(child, child_type, child_path, problems)
    for name, (_, occurs) in spec["children"].items():
        count = seen.get(name, 0)
        if occurs == "1" and count != 1:
            problems.append(f"{path}: {name} occurs {count} times, expected once")
        if occurs == "?" and count > 1:
            problems.append(f"{path}: {name} occurs {count} times, expected at most once")


def check(document: bytes, type_name: str) -> list[str]:
    """Parse ``document`` (raises if it is not well-formed XML) and list how it deviates from the
    element type ``type_name`` of ``STANDARD``."""
    root = ET.fromstring(document)
    expected = f"{{{NAMESPACE}}}{STANDARD[type_name]['tag']}"
    if root.tag != expected:
        return [f"root is {root.tag}, expected {expected}"]
    problems: list[str] = []
    _check(root, type_name, local_name(root.tag), problems)
    return problems


def ns(path: str) -> str:
    """An ElementTree path in the standard's namespace: ``ns("Equipment/Location")``."""
    return "/".join(f"{{{NAMESPACE}}}{part}" if part not in (".", "..", "*") else part for part in path.split("/"))
