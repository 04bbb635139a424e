"""ISO 15143-3 (AEMP 2.0) documents built from stored data. Pure: stdlib only.

Every function takes stored documents (plain dicts and dataclass-like objects) and returns the
AEMP document as a dict in its JSON shape: element names of the standard as keys; the root's
``version`` and ``snapshotTime`` and each element's ``datetime`` as plain keys (XML attributes,
see ``xml_document``). An element the backend does not know is left out, never filled with null
or a guess. The structure follows the published feeds listed in docs/AEMP.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from equipment_current.aemp.xml_document import xml_safe

VERSION = "20190501"
NAMESPACE = "http://standards.iso.org/iso/15143/-3"
PAGE_SIZE = 100  # records per page of every paged AEMP document

# Units, spelled out as the standard's unit elements expect them.
KILOMETRE = "kilometre"
LITRE = "litre"

# The time series this backend serves: URL element name -> (root element, item element).
TIME_SERIES = {
    "Locations": ("LocationMessages", "Location"),
    "CumulativeOperatingHours": ("CumulativeOperatingHoursMessages", "CumulativeOperatingHours"),
    "Distance": ("DistanceMessages", "Distance"),
}
# The order of a machine's elements: the order the published fleet feeds agree on (docs/AEMP.md).
EQUIPMENT_ORDER = (
    "EquipmentHeader",
    "Location",
    "CumulativeOperatingHours",
    "Distance",
    "EngineStatus",
    "FuelUsed",
    "FuelRemaining",
)

# ISO 10261 Product Identification Number: 17 characters, letters and digits.
_PIN = re.compile(r"[A-Z0-9]{17}")


def aemp_datetime(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC ``xs:dateTime``: whole seconds as the feeds write
    them (``2025-11-24T16:00:00Z``), milliseconds only when there are any (``…:00.007Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    timespec = "milliseconds" if ms % 1000 else "seconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def _number(value: Any) -> float | int | None:
    """A stored number the feed can carry: finite, not a boolean; anything else is unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _string(value: Any) -> str | None:
    """A stored name as the feed carries it: characters XML cannot hold replaced by U+FFFD
    (docs/AEMP.md, "Any stored value"), so the XML and the JSON answers say the same."""
    return None if value in (None, "") else xml_safe(str(value))


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
    oem = _string(_first_known(registry.get("brand"), description.get("brand")))
    model = _string(_first_known(registry.get("model"), description.get("model")))
    if oem is not None:
        header["OEMName"] = oem
    if model is not None:
        header["Model"] = model
    header["EquipmentID"] = _string(identifier) or ""
    serial = _string(_first_known(registry.get("serial_number")))
    if serial is not None:
        header["SerialNumber"] = serial
        if _PIN.fullmatch(serial):
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
    position = _section(state, "position") or {}
    latitude, longitude = _number(position.get("latitude")), _number(position.get("longitude"))
    if latitude is not None and longitude is not None:
        document["Location"] = location(position["at"], latitude, longitude)
    hours = _number((_section(state, "engine_hours") or {}).get("hours_tot"))
    if hours is not None:
        document["CumulativeOperatingHours"] = operating_hours(state["engine_hours"]["at"], hours)
    km = _number((_section(state, "odometer") or {}).get("km_tot"))
    if km is not None:
        document["Distance"] = distance(state["odometer"]["at"], km)
    engine = _section(state, "engine")
    if engine and isinstance(engine.get("running"), bool):
        document["EngineStatus"] = {"datetime": aemp_datetime(engine["at"]), "Running": engine["running"]}
    fuel = _section(state, "fuel") or {}
    used, level = _number(fuel.get("used_tot_l")), _number(fuel.get("level_pct"))
    if used is not None:
        document["FuelUsed"] = {"datetime": aemp_datetime(fuel["at"]), "FuelUnits": LITRE, "FuelConsumed": used}
    if level is not None:
        document["FuelRemaining"] = {"datetime": aemp_datetime(fuel["at"]), "Percent": level}
    return document


def last_page(count: int, page_size: int = PAGE_SIZE) -> int:
    """The number of the last page; an empty collection still has page 1 (empty)."""
    return max(1, math.ceil(count / page_size))


def page_links(page: int, last: int, href: Any) -> list[dict[str, str]]:
    """``Links`` of a page: ``self``, ``prev`` (not on the first page), ``next`` (not on the last
    page), ``last`` -- the four relations the published feeds send. ``href(n)`` is the URL of page
    ``n``."""
    rels: list[tuple[str, int]] = [("self", page)]
    if page > 1:
        rels.append(("prev", page - 1))
    if page < last:
        rels.append(("next", page + 1))
    rels.append(("last", last))
    return [{"rel": rel, "href": href(number)} for rel, number in rels]


def fleet(equipment_list: Iterable[dict], links: list[dict], snapshot_ms: int) -> dict[str, Any]:
    """The ``Fleet`` document of one page: ``version`` and ``snapshotTime`` (attributes of the
    root in XML), then ``Links``, then ``Equipment``."""
    return {
        "version": VERSION,
        "snapshotTime": aemp_datetime(snapshot_ms),
        "Links": links,
        "Equipment": list(equipment_list),
    }


def single_equipment(document: dict, snapshot_ms: int) -> dict[str, Any]:
    """The single-element snapshot: a ``Fleet`` holding the one ``Equipment``, without links."""
    return {"version": VERSION, "snapshotTime": aemp_datetime(snapshot_ms), "Equipment": [document]}


def time_series(element: str, items: Iterable[dict], links: list[dict]) -> dict[str, Any]:
    """A time-series page (root ``TIME_SERIES[element][0]``, e.g. ``LocationMessages``): its
    ``Links``, then its item elements. The published time-series pages carry no root attributes."""
    _, item = TIME_SERIES[element]
    return {"Links": links, item: list(items)}


def location_items(positions: Iterable[Any]) -> list[dict[str, Any]]:
    """``Location`` items from stored history positions (``timestamp``, ``latitude``, ``longitude``)."""
    return [
        location(p.timestamp, p.latitude, p.longitude)
        for p in positions
        if _number(p.latitude) is not None and _number(p.longitude) is not None
    ]


def operating_hours_items(readings: Iterable[dict]) -> list[dict[str, Any]]:
    """``CumulativeOperatingHours`` items from usage-ledger readings (``timestamp``, ``hours``)."""
    return [operating_hours(r["timestamp"], r["hours"]) for r in readings if _number(r.get("hours")) is not None]


def distance_items(readings: Iterable[dict]) -> list[dict[str, Any]]:
    """``Distance`` items from usage-ledger readings (``timestamp``, ``km``)."""
    return [distance(r["timestamp"], r["km"]) for r in readings if _number(r.get("km")) is not None]
