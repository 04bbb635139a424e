"""A strict ISO 15143-3 (AEMP 2.0) reader for the tests, the way a real client reads a feed.

The public third-party client that failed on our feed strips the namespaces and parses with
xsdata-generated dataclasses; an element it has no field for is a ``ParserError``. This module
does the same with dataclasses written here, from the published feeds and documents listed in
docs/AEMP.md (not from the ISO text, which is not public), and adds what xsdata does not check:

- every element and attribute must be known (``fail_on_unknown_properties`` / ``_attributes``);
- every value must convert to its type (``fail_on_converter_warnings``): decimals, booleans,
  ``xs:dateTime``;
- the fields marked ``required`` must be present (``missing_required``);
- in XML, every element must be in the root's namespace (``namespace_of``).

The order of a machine's elements is not checked: the published fleets disagree on it (Wacker
Neuson/Trackunit send ``Distance`` before ``EngineStatus``, the order in xsdata clients differs
again), and xsdata does not check order either. ``strict_xml`` and ``strict_json`` raise
``NotConformant`` naming the first problem.
"""

# The helpers below return dataclasses.field(...) with xsdata metadata, which RUF009 mistakes for a call.
# ruff: noqa: RUF009
from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from xsdata.formats.dataclass.parsers import JsonParser, XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.models.datatype import XmlDateTime

ISO_NAMESPACE = "http://standards.iso.org/iso/15143/-3"
# Takeuchi (TFM) serves its feed under the Japan Construction Machinery Association's namespace.
KNOWN_NAMESPACES = frozenset({ISO_NAMESPACE, "http://www.jcmanet.or.jp/english2017/ISO/15143/-3/20190501"})
RELATIONS = frozenset({"self", "first", "prev", "next", "last"})


class NotConformant(Exception):
    """The document is not one a strict AEMP client would read."""


def _element(name: str, *, required: bool = False) -> Any:
    return field(default=None, metadata={"name": name, "type": "Element", "required": required})


def _attribute(name: str, *, required: bool = False) -> Any:
    return field(default=None, metadata={"name": name, "type": "Attribute", "required": required})


def _elements(name: str) -> Any:
    return field(default_factory=list, metadata={"name": name, "type": "Element"})


@dataclass
class Link:
    class Meta:
        name = "Links"

    rel: str | None = _element("rel", required=True)
    href: str | None = _element("href", required=True)


@dataclass
class EquipmentHeader:
    """Every header field is optional in the published fleets (a Wacker Neuson machine comes
    with neither ``OEMName`` nor ``Model``)."""

    UnitInstallDateTime: XmlDateTime | None = _element("UnitInstallDateTime")
    OEMName: str | None = _element("OEMName")
    Model: str | None = _element("Model")
    EquipmentID: str | None = _element("EquipmentID")
    SerialNumber: str | None = _element("SerialNumber")
    PIN: str | None = _element("PIN")


@dataclass
class Location:
    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    Latitude: float | None = _element("Latitude", required=True)
    Longitude: float | None = _element("Longitude", required=True)
    Altitude: float | None = _element("Altitude")
    AltitudeUnits: str | None = _element("AltitudeUnits")


@dataclass
class CumulativeOperatingHours:
    """The time of the reading is the ``datetime`` attribute in every feed but Takeuchi's fleet
    snapshot, which sends a ``<datetime>`` child after ``<Hour>``; a client has to take either
    (``datetime_element``), and exactly one of the two must be there (``missing_required``)."""

    datetime: XmlDateTime | None = _attribute("datetime")
    Hour: float | None = _element("Hour", required=True)
    datetime_element: XmlDateTime | None = _element("datetime")


@dataclass
class Distance:
    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    OdometerUnits: str | None = _element("OdometerUnits", required=True)
    Odometer: float | None = _element("Odometer", required=True)


@dataclass
class EngineStatus:
    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    EngineNumber: str | None = _element("EngineNumber")
    Running: bool | None = _element("Running", required=True)


@dataclass
class FuelUsed:
    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    FuelUnits: str | None = _element("FuelUnits", required=True)
    FuelConsumed: float | None = _element("FuelConsumed", required=True)


@dataclass
class FuelRemaining:
    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    Percent: float | None = _element("Percent", required=True)
    FuelTankCapacityUnits: str | None = _element("FuelTankCapacityUnits")
    FuelTankCapacity: float | None = _element("FuelTankCapacity")


@dataclass
class DEFRemaining:
    """Not served here (no diesel exhaust fluid data), but sent by Wacker Neuson and Takeuchi."""

    datetime: XmlDateTime | None = _attribute("datetime", required=True)
    Percent: float | None = _element("Percent", required=True)
    DEFTankCapacityUnits: str | None = _element("DEFTankCapacityUnits")
    DEFTankCapacity: float | None = _element("DEFTankCapacity")


@dataclass
class Equipment:
    EquipmentHeader: EquipmentHeader | None = _element("EquipmentHeader", required=True)
    Location: Location | None = _element("Location")
    CumulativeOperatingHours: CumulativeOperatingHours | None = _element("CumulativeOperatingHours")
    DEFRemaining: DEFRemaining | None = _element("DEFRemaining")
    Distance: Distance | None = _element("Distance")
    EngineStatus: EngineStatus | None = _element("EngineStatus")
    FuelUsed: FuelUsed | None = _element("FuelUsed")
    FuelRemaining: FuelRemaining | None = _element("FuelRemaining")


@dataclass
class Fleet:
    """The fleet snapshot, and the single-element snapshot (a ``Fleet`` with one machine)."""

    version: str | None = _attribute("version", required=True)
    snapshotTime: XmlDateTime | None = _attribute("snapshotTime")
    Links: list[Link] = _elements("Links")
    Equipment: list[Equipment] = _elements("Equipment")


@dataclass
class LocationMessages:
    Links: list[Link] = _elements("Links")
    Location: list[Location] = _elements("Location")


@dataclass
class CumulativeOperatingHoursMessages:
    Links: list[Link] = _elements("Links")
    CumulativeOperatingHours: list[CumulativeOperatingHours] = _elements("CumulativeOperatingHours")


@dataclass
class DistanceMessages:
    Links: list[Link] = _elements("Links")
    Distance: list[Distance] = _elements("Distance")


@dataclass
class EngineStatusMessages:
    Links: list[Link] = _elements("Links")
    EngineStatus: list[EngineStatus] = _elements("EngineStatus")


DOCUMENTS: dict[str, type] = {
    cls.__name__: cls
    for cls in (Fleet, LocationMessages, CumulativeOperatingHoursMessages, DistanceMessages, EngineStatusMessages)
}
CONFIG = ParserConfig(fail_on_unknown_properties=True, fail_on_unknown_attributes=True, fail_on_converter_warnings=True)


def missing_required(document: Any, path: str = "") -> list[str]:
    """Every required field of ``document`` (a parsed dataclass) that is absent, as a path; and a
    ``Links`` whose ``rel`` is not one of the standard's relations."""
    problems: list[str] = []
    name = type(document).__name__
    here = f"{path}/{name}" if path else name
    for spec in dataclasses.fields(document):
        value = getattr(document, spec.name)
        if spec.metadata.get("required") and value in (None, ""):
            problems.append(f"{here}: missing {spec.metadata['name']}")
        for child in value if isinstance(value, list) else [value]:
            if dataclasses.is_dataclass(child):
                problems.extend(missing_required(child, here))
    if isinstance(document, CumulativeOperatingHours) and (document.datetime is None) == (
        document.datetime_element is None
    ):
        problems.append(f"{here}: needs exactly one datetime (attribute, or Takeuchi's child element)")
    if isinstance(document, Link) and document.rel not in RELATIONS:
        problems.append(f"{here}: rel {document.rel!r} is not one of {sorted(RELATIONS)}")
    return problems


def namespace_of(document: bytes) -> tuple[str, bytes]:
    """The root's namespace, and the document with every namespace stripped (as the client does);
    NotConformant if an element is in another namespace than the root."""
    root = ET.fromstring(document)
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    for element in root.iter():
        own = element.tag[1:].split("}")[0] if element.tag.startswith("{") else ""
        if own != namespace:
            raise NotConformant(f"{element.tag} is not in the root's namespace {namespace!r}")
        element.tag = element.tag.rsplit("}", 1)[-1]
        for key in [key for key in element.attrib if key.startswith("{")]:
            raise NotConformant(f"{element.tag}: qualified attribute {key}")
        if len(element) and any((text or "").strip() for text in (element.text, *(c.tail for c in element))):
            raise NotConformant(f"{element.tag}: text between child elements")
    return namespace, ET.tostring(root)


def _checked(document: Any) -> Any:
    problems = missing_required(document)
    if problems:
        raise NotConformant("; ".join(problems))
    return document


def strict_xml(document: bytes, root: str, namespaces: frozenset[str] = frozenset({ISO_NAMESPACE})) -> Any:
    """``document`` parsed as the AEMP document ``root`` (``"Fleet"``, ``"LocationMessages"``…)."""
    namespace, stripped = namespace_of(document)
    if namespace not in namespaces:
        raise NotConformant(f"namespace {namespace!r} is not one of {sorted(namespaces)}")
    tag = ET.fromstring(stripped).tag
    if tag != root:
        raise NotConformant(f"root is {tag}, expected {root}")
    try:
        parsed = XmlParser(config=CONFIG).from_bytes(stripped, DOCUMENTS[root])
    except Exception as error:  # xsdata raises ParserError, ConverterError, or a warning turned error
        raise NotConformant(f"{type(error).__name__}: {error}") from error
    return _checked(parsed)


# JSON types the XML cannot show: a number is a JSON number, a boolean a JSON boolean.
NUMBERS = frozenset(
    {"Latitude", "Longitude", "Altitude", "Hour", "Odometer", "FuelConsumed", "Percent", "FuelTankCapacity"}
    | {"DEFTankCapacity"}
)
BOOLEANS = frozenset({"Running"})


def json_type_problems(value: Any, path: str = "") -> list[str]:
    """Every number written as a string (or a boolean as anything but true/false) in a JSON
    document; xsdata would convert ``"45.4"`` silently."""
    problems: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{path}/{key}"
            if key in NUMBERS and (isinstance(child, bool) or not isinstance(child, (int, float))):
                problems.append(f"{here}: {child!r} is not a JSON number")
            elif key in BOOLEANS and not isinstance(child, bool):
                problems.append(f"{here}: {child!r} is not a JSON boolean")
            else:
                problems.extend(json_type_problems(child, here))
    elif isinstance(value, list):
        for child in value:
            problems.extend(json_type_problems(child, path))
    return problems


def strict_json(document: bytes | str | dict, root: str) -> Any:
    """The JSON binding of ``root``: the same names as the XML, attributes as plain keys, a
    repeated element as a list."""
    data = json.loads(document) if isinstance(document, (bytes, str)) else document
    problems = json_type_problems(data)
    if problems:
        raise NotConformant("; ".join(problems))
    text = json.dumps(data)
    try:
        parsed = JsonParser(config=CONFIG).from_string(text, DOCUMENTS[root])
    except Exception as error:
        raise NotConformant(f"{type(error).__name__}: {error}") from error
    return _checked(parsed)
