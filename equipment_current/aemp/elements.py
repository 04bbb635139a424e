"""ISO 15143-3 (AEMP 2.0) documents built from stored data. Pure: stdlib only.

Every function takes stored documents (plain dicts and dataclass-like objects) and returns the
AEMP document as a dict in its JSON shape: element names of the standard as keys, the
``datetime`` of an element as the key ``datetime`` (an XML attribute, see ``xml_document``).
An element the backend does not know is left out, never filled with null or a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

VERSION = "20190501"
NAMESPACE = "http://standards.iso.org/iso/15143/-3"
PAGE_SIZE = 100  # records per page of every paged AEMP document

# Units, spelled out as the standard's unit elements expect them.
KILOMETRE = "kilometre"
LITRE = "litre"

# The time series this backend serves: URL element name -> (root element, item element).
TIME_SERIES = {
    "Locations": ("Locations", "Location"),
    "CumulativeOperatingHours": ("CumulativeOperatingHours", "CumulativeOperatingHours"),
    "Distance": ("Distance", "Distance"),
}

# ISO 10261 Product Identification Number: 17 characters, letters and digits.
_PIN = re.compile(r"^[A-Z0-9]{17}$")


def aemp_datetime(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC ``xs:dateTime`` with millisecond precision."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _section(state: dict, name: str) -> dict | None:
    value = state.get(name)
    return value if isinstance(value, dict) and value.get("at") is not None else None


def _first_known(*values: Any) -> Any:
    return next((value for value in values if value not in (None, "")), None)


def equipment_header(identifier: str, description: dict | None, registry: dict | None) -> dict[str, str]:
    """``EquipmentHeader``: OEM name and model from the registry, else from the telemetry
    description; the serial number from the registry; ``PIN`` only when that serial number has
    the shape of an ISO 10261 PIN (17 letters and digits)."""
    description = description or {}
    registry = registry or {}
    header: dict[str, str] = {}
    oem = _first_known(registry.get("brand"), description.get("brand"))
    model = _first_known(registry.get("model"), description.get("model"))
    if oem is not None:
        header["OEMName"] = oem
    if model is not None:
        header["Model"] = model
    header["EquipmentID"] = identifier
    serial = _first_known(registry.get("serial_number"))
    if serial is not None:
        header["SerialNumber"] = serial
        if _PIN.match(serial):
            header["PIN"] = serial
    return header


def location(at: int, latitude: float, longitude: float) -> dict[str, Any]:
    return {"datetime": aemp_datetime(at), "Latitude": latitude, "Longitude": longitude}


def operating_hours(at: int, hours: float) -> dict[str, Any]:
    return {"datetime": aemp_datetime(at), "Hour": hours}


def distance(at: int, km: float) -> dict[str, Any]:
    return {"datetime": aemp_datetime(at), "OdometerUnits": KILOMETRE, "Odometer": km}


def equipment(state: dict, registry: dict | None) -> dict[str, Any]:
    """One ``Equipment`` of the fleet snapshot from a current-state document (sections with their
    event time ``at``) and the machine's newest registry record (or None)."""
    identifier = state.get("identifier") or state["_id"]
    document: dict[str, Any] = {
        "EquipmentHeader": equipment_header(identifier, _section(state, "description"), registry)
    }
    position = _section(state, "position")
    if position and position.get("latitude") is not None and position.get("longitude") is not None:
        document["Location"] = location(position["at"], position["latitude"], position["longitude"])
    hours = _section(state, "engine_hours")
    if hours and hours.get("hours_tot") is not None:
        document["CumulativeOperatingHours"] = operating_hours(hours["at"], hours["hours_tot"])
    odometer = _section(state, "odometer")
    if odometer and odometer.get("km_tot") is not None:
        document["Distance"] = distance(odometer["at"], odometer["km_tot"])
    engine = _section(state, "engine")
    if engine and engine.get("running") is not None:
        document["EngineStatus"] = {"datetime": aemp_datetime(engine["at"]), "Running": bool(engine["running"])}
    fuel = _section(state, "fuel")
    if fuel and fuel.get("used_tot_l") is not None:
        document["FuelUsed"] = {
            "datetime": aemp_datetime(fuel["at"]),
            "FuelUnits": LITRE,
            "FuelConsumed": fuel["used_tot_l"],
        }
    if fuel and fuel.get("level_pct") is not None:
        document["FuelRemaining"] = {"datetime": aemp_datetime(fuel["at"]), "Percent": fuel["level_pct"]}
    return document


def last_page(count: int, page_size: int = PAGE_SIZE) -> int:
    """The number of the last page; an empty collection still has page 1 (empty)."""
    return max(1, math.ceil(count / page_size))


def page_links(page: int, last: int, href: Any) -> list[dict[str, str]]:
    """``Links`` of a page: ``self``, ``first``, ``prev`` (not on the first page), ``next`` (not on
    the last page), ``last``. ``href(n)`` is the URL of page ``n``."""
    rels: list[tuple[str, int]] = [("self", page), ("first", 1)]
    if page > 1:
        rels.append(("prev", page - 1))
    if page < last:
        rels.append(("next", page + 1))
    rels.append(("last", last))
    return [{"rel": rel, "href": href(number)} for rel, number in rels]


def fleet(equipment_list: Iterable[dict], links: list[dict], snapshot_ms: int) -> dict[str, Any]:
    """The ``Fleet`` document of one page."""
    return {
        "Version": VERSION,
        "SnapshotTime": aemp_datetime(snapshot_ms),
        "Links": links,
        "Equipment": list(equipment_list),
    }


def time_series(element: str, items: Iterable[dict], links: list[dict], snapshot_ms: int) -> dict[str, Any]:
    """A time-series document (root ``TIME_SERIES[element][0]``) holding its item elements."""
    _, item = TIME_SERIES[element]
    return {"Version": VERSION, "SnapshotTime": aemp_datetime(snapshot_ms), "Links": links, item: list(items)}


def location_items(positions: Iterable[Any]) -> list[dict[str, Any]]:
    """``Location`` items from stored history positions (``timestamp``, ``latitude``, ``longitude``)."""
    return [location(p.timestamp, p.latitude, p.longitude) for p in positions]


def operating_hours_items(readings: Iterable[dict]) -> list[dict[str, Any]]:
    """``CumulativeOperatingHours`` items from usage-ledger readings (``timestamp``, ``hours``)."""
    return [operating_hours(r["timestamp"], r["hours"]) for r in readings if r.get("hours") is not None]


def distance_items(readings: Iterable[dict]) -> list[dict[str, Any]]:
    """``Distance`` items from usage-ledger readings (``timestamp``, ``km``)."""
    return [distance(r["timestamp"], r["km"]) for r in readings if r.get("km") is not None]
