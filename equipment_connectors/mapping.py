"""ISO 15143-3 (AEMP 2.0) elements of another maker's feed -> normalised C40 telemetry. Pure: stdlib only.

A fleet page, read by ``equipment_current.aemp.client`` (``Page.records``), gives one ``Equipment``
per machine in the JSON binding: ``EquipmentHeader`` and one dict per element, each with its own
``datetime``. Each element the C40 record has a field for becomes a ``Reading``:

====================================  ===============================  =================================
AEMP element                          C40 field                        rule
====================================  ===============================  =================================
CumulativeOperatingHours/Hour         c40.odometry.hours_tot           as is
Distance/Odometer + OdometerUnits     c40.odometry.km_tot              miles x 1.609344, km as is
FuelUsed/FuelConsumed + FuelUnits     c40.fuel.used_tot_l              US gallons x 3.785411784, ...
FuelRemaining/Percent                 c40.fuel.level_pct               0..100
EngineStatus/Running                  c40.engine.running               boolean
Location/Latitude, Longitude          location.GPS                     WGS84 ranges
====================================  ===============================  =================================

Readings with the same ``datetime`` make one message; each distinct time its own (hours stamped
10:00 and a location stamped 10:05 are two messages). A converted value is rounded to 3 decimals
(a metre, a millilitre): 100 miles is 160.934 km. An element whose unit, number or time cannot be
read is left out with a reason, never guessed. A reading's dedup key is (maker, PIN or id, element,
time): the value is not part of it, so a maker's later correction of a reading already published
is not published again (docs/CONNECTORS.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KM_PER_MILE = 1.609344
LITRES_PER = {
    "litre": 1.0,
    "liter": 1.0,
    "litres": 1.0,
    "liters": 1.0,
    "l": 1.0,
    "gallon": 3.785411784,  # a bare "gallon" is the US gallon, as the North American feeds mean it
    "gallons": 3.785411784,
    "us gallon": 3.785411784,
    "us gallons": 3.785411784,
    "gal": 3.785411784,
    "imperial gallon": 4.54609,
    "imperial gallons": 4.54609,
    "uk gallon": 4.54609,
}
KM_PER = {
    "kilometre": 1.0,
    "kilometer": 1.0,
    "kilometres": 1.0,
    "kilometers": 1.0,
    "km": 1.0,
    "mile": KM_PER_MILE,
    "miles": KM_PER_MILE,
    "mi": KM_PER_MILE,
    "metre": 0.001,
    "meter": 0.001,
    "m": 0.001,
}
DECIMALS = 3
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The elements read, in the order their readings are listed.
ELEMENTS = ("Location", "CumulativeOperatingHours", "Distance", "EngineStatus", "FuelUsed", "FuelRemaining")


@dataclass(frozen=True)
class Machine:
    """Who a machine is in the maker's feed (``EquipmentHeader``)."""

    pin: str | None
    serial: str | None
    equipment_id: str | None
    oem: str | None
    model: str | None

    @property
    def key(self) -> str | None:
        """The machine's part of a dedup key: the PIN, else the maker's equipment id, else the serial."""
        return self.pin or self.equipment_id or self.serial


@dataclass(frozen=True)
class Reading:
    element: str  # the AEMP element name
    at: int  # epoch milliseconds
    fields: tuple[tuple[tuple[str, ...], Any], ...]  # (path in the C40 record, value)


@dataclass
class MachineReadings:
    machine: Machine
    readings: list[Reading] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def machine_of(header: Any) -> Machine:
    header = header if isinstance(header, dict) else {}
    return Machine(
        pin=_text(header.get("PIN")),
        serial=_text(header.get("SerialNumber")),
        equipment_id=_text(header.get("EquipmentID")),
        oem=_text(header.get("OEMName")),
        model=_text(header.get("Model")),
    )


def parse_time(text: Any) -> int | None:
    """An ``xs:dateTime`` as epoch milliseconds; a time without a zone is UTC; None if unreadable
    or before 1970 (Takeuchi's ``0001-01-01T00:00:00Z`` means "unknown")."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ms = (moment - EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding of the milliseconds
    return ms if ms > 0 else None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def convert(value: float, unit: Any, table: dict[str, float]) -> float | None:
    """``value`` in ``unit`` converted by ``table`` and rounded to 3 decimals; None for an unknown unit."""
    factor = table.get(unit.strip().lower()) if isinstance(unit, str) else None
    if factor is None:
        return None
    return round(value * factor, DECIMALS)


def _fields(element: str, value: dict) -> tuple[list[tuple[tuple[str, ...], Any]], str | None]:
    """The C40 fields of one element, or a reason it gives none."""
    if element == "CumulativeOperatingHours":
        hours = _finite(value.get("Hour"))
        if hours is None or hours < 0:
            return [], "Hour is not a non-negative number"
        return [(("c40", "odometry", "hours_tot"), hours)], None
    if element == "Distance":
        odometer = _finite(value.get("Odometer"))
        if odometer is None or odometer < 0:
            return [], "Odometer is not a non-negative number"
        km = convert(odometer, value.get("OdometerUnits", "kilometre"), KM_PER)
        if km is None:
            return [], f"unknown OdometerUnits {value.get('OdometerUnits')!r}"
        return [(("c40", "odometry", "km_tot"), km)], None
    if element == "FuelUsed":
        consumed = _finite(value.get("FuelConsumed"))
        if consumed is None or consumed < 0:
            return [], "FuelConsumed is not a non-negative number"
        litres = convert(consumed, value.get("FuelUnits", "litre"), LITRES_PER)
        if litres is None:
            return [], f"unknown FuelUnits {value.get('FuelUnits')!r}"
        return [(("c40", "fuel", "used_tot_l"), litres)], None
    if element == "FuelRemaining":
        percent = _finite(value.get("Percent"))
        if percent is None or not 0 <= percent <= 100:
            return [], "Percent is not in 0..100"
        return [(("c40", "fuel", "level_pct"), percent)], None
    if element == "EngineStatus":
        running = value.get("Running")
        if not isinstance(running, bool):
            return [], "Running is not a boolean"
        return [(("c40", "engine", "running"), running)], None
    latitude, longitude = _finite(value.get("Latitude")), _finite(value.get("Longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return [], "Latitude/Longitude missing or out of range"
    if latitude == 0 and longitude == 0:  # "no fix" as several boxes send it
        return [], "Latitude/Longitude 0,0 (no fix)"
    return [(("location", "GPS", "latitude"), latitude), (("location", "GPS", "longitude"), longitude)], None


def readings_of(equipment: Any) -> MachineReadings:
    """The readings of one ``Equipment`` of a fleet page, with the reasons for what was left out."""
    equipment = equipment if isinstance(equipment, dict) else {}
    result = MachineReadings(machine_of(equipment.get("EquipmentHeader")))
    for element in ELEMENTS:
        value = equipment.get(element)
        if value is None:
            continue
        if not isinstance(value, dict):
            result.problems.append(f"{element}: not an element")
            continue
        at = parse_time(value.get("datetime"))
        if at is None:
            result.problems.append(f"{element}: datetime {value.get('datetime')!r} is not a date-time")
            continue
        fields, problem = _fields(element, value)
        if problem:
            result.problems.append(f"{element}: {problem}")
            continue
        result.readings.append(Reading(element, at, tuple(fields)))
    return result


def dedup_key(maker: str, machine: Machine, reading: Reading) -> str:
    """``maker|PIN or id|element|time``: the same reading polled twice has the same key."""
    return f"{maker}|{machine.key}|{reading.element}|{reading.at}"


def messages(identifier: str, machine: Machine, readings: Iterable[Reading]) -> list[dict[str, Any]]:
    """One C40 record per distinct reading time, oldest first, each with the machine's description."""
    by_time: dict[int, list[Reading]] = {}
    for reading in readings:
        by_time.setdefault(reading.at, []).append(reading)
    records = []
    for at in sorted(by_time):
        record: dict[str, Any] = {"identifier": identifier, "timestamp": at}
        if machine.oem or machine.model:
            record["description"] = {"brand": machine.oem, "model": machine.model}
        for reading in by_time[at]:
            for path, value in reading.fields:
                section = record
                for name in path[:-1]:
                    section = section.setdefault(name, {})
                section[path[-1]] = value
        records.append(_complete(record))
    return records


def _complete(record: dict[str, Any]) -> dict[str, Any]:
    """Every nested record of the schema written whole (absent fields null), as the codec expects."""
    location = record.get("location")
    if location is not None:
        location.setdefault("address", None)
        location.setdefault("pointsOfInterest", None)
    c40 = record.get("c40")
    if c40 is not None:
        for section, names in (
            ("odometry", ("hours_tot", "km_tot")),
            ("engine", ("running",)),
            ("fuel", ("used_tot_l", "level_pct")),
        ):
            if section in c40:
                for name in names:
                    c40[section].setdefault(name, None)
    return record
