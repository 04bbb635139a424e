"""Rules of the current-state service (the digital twin). Pure: no Django, pymongo or Kafka.

A machine's state is a set of sections. Each section carries the event time (``at``, epoch ms) of
the message it came from, and a message replaces a section only if it is strictly newer than what
is stored. So a late or replayed message never rolls a section back, and a message without GPS
leaves the last known position alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SECTIONS = (
    "base",
    "description",
    "position",
    "points_of_interest",
    "engine_hours",
    "odometer",
    "engine",
    "fuel",
)


def _get(record: dict, *path: str) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


_ABSENT: Mapping[str, Any] = MappingProxyType({})


def _section(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``parent[key]`` when it is a dict, else an empty mapping (a missing or null section)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else _ABSENT


def extract_poi_names(record: dict) -> list[str]:
    """The names of the points of interest in ``record``, in order, without duplicates."""
    names: list[str] = []
    for poi in _get(record, "location", "pointsOfInterest") or []:
        name = poi.get("name") if isinstance(poi, dict) else None
        if name and name not in names:
            names.append(name)
    return names


def extract_sections(record: dict) -> dict[str, dict]:
    """The sections ``record`` carries, each stamped with the record's event time.

    A section is present only when the message has a value for it: a missing GPS fix yields no
    ``position``; points of interest are known whenever the position is (an empty list then means
    "in no work site") or when the message lists some.
    """
    at = record["timestamp"]
    sections: dict[str, dict] = {}
    # Each nested section is looked up once: this runs for every message of every batch.
    location, c40 = _section(record, "location"), _section(record, "c40")
    gps, odometry, fuel = _section(location, "GPS"), _section(c40, "odometry"), _section(c40, "fuel")

    code = _section(record, "base").get("code")
    if code is not None:
        sections["base"] = {"code": code}

    description = _section(record, "description")
    brand, model = description.get("brand"), description.get("model")
    if brand is not None or model is not None:
        sections["description"] = {"brand": brand, "model": model}

    latitude, longitude = gps.get("latitude"), gps.get("longitude")
    has_position = latitude is not None and longitude is not None
    if has_position:
        sections["position"] = {"latitude": latitude, "longitude": longitude, "address": location.get("address")}
    names = extract_poi_names(record)
    if has_position or names:
        sections["points_of_interest"] = {"names": names}

    hours, km = odometry.get("hours_tot"), odometry.get("km_tot")
    if hours is not None:
        sections["engine_hours"] = {"hours_tot": hours}
    if km is not None:
        sections["odometer"] = {"km_tot": km}

    running = _section(c40, "engine").get("running")
    if running is not None:
        sections["engine"] = {"running": running}

    used, level = fuel.get("used_tot_l"), fuel.get("level_pct")
    if used is not None or level is not None:
        sections["fuel"] = {"used_tot_l": used, "level_pct": level}

    for value in sections.values():
        value["at"] = at
    return sections


@dataclass
class StateUpdate:
    """The newest sections seen for one machine, and the newest event time overall."""

    identifier: str
    last_event_at: int
    sections: dict[str, dict] = field(default_factory=dict)

    def absorb(self, other: StateUpdate) -> None:
        """Keep, section by section, whichever of ``self`` and ``other`` is newer (ties: self)."""
        self.last_event_at = max(self.last_event_at, other.last_event_at)
        for name, section in other.sections.items():
            mine = self.sections.get(name)
            if mine is None or section["at"] > mine["at"]:
                self.sections[name] = section


def state_update(record: dict) -> StateUpdate:
    return StateUpdate(record["identifier"], record["timestamp"], extract_sections(record))


def fold_state_updates(records: Iterable[dict]) -> dict[str, StateUpdate]:
    """One ``StateUpdate`` per machine for a batch, whatever the order of its records.

    Folding first means one database write per machine per batch, and the result is the same as
    applying every record one by one, because "newer section wins" is associative and commutative
    (ties keep the first seen, as the database does).
    """
    updates: dict[str, StateUpdate] = {}
    for record in records:
        update = state_update(record)
        if update.identifier in updates:
            updates[update.identifier].absorb(update)
        else:
            updates[update.identifier] = update
    return updates


def is_stale(last_event_at: int | None, now_ms: int, stale_minutes: int) -> bool:
    """A machine is stale when its newest event is more than ``stale_minutes`` old."""
    return last_event_at is None or now_ms - last_event_at > stale_minutes * 60_000
