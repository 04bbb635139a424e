"""Rules of the current-state service (the digital twin). Pure: no Django, pymongo or Kafka.

A machine's state is a set of sections. Each section carries the event time (``at``, epoch ms) of
the message it came from, and a message replaces a section only if it is strictly newer than what
is stored. So a late or replayed message never rolls a section back, and a message without GPS
leaves the last known position alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.records import poi_names, section

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


def extract_sections(record: dict) -> dict[str, dict]:
    """The sections ``record`` carries, each stamped with the record's event time.

    A section is present only when the message has a value for it: a missing GPS fix yields no
    ``position``; points of interest are known whenever the position is (an empty list then means
    "in no work site") or when the message lists some.
    """
    at = record["timestamp"]
    sections: dict[str, dict] = {}
    # Each nested section is looked up once: this runs for every message of every batch.
    location, c40 = section(record, "location"), section(record, "c40")
    gps, odometry, fuel = section(location, "GPS"), section(c40, "odometry"), section(c40, "fuel")

    code = section(record, "base").get("code")
    if code is not None:
        sections["base"] = {"code": code}

    description = section(record, "description")
    brand, model = description.get("brand"), description.get("model")
    if brand is not None or model is not None:
        sections["description"] = {"brand": brand, "model": model}

    latitude, longitude = gps.get("latitude"), gps.get("longitude")
    has_position = latitude is not None and longitude is not None
    if has_position:
        sections["position"] = {"latitude": latitude, "longitude": longitude, "address": location.get("address")}
    names = poi_names(record)
    if has_position or names:
        sections["points_of_interest"] = {"names": names}

    hours, km = odometry.get("hours_tot"), odometry.get("km_tot")
    if hours is not None:
        sections["engine_hours"] = {"hours_tot": hours}
    if km is not None:
        sections["odometer"] = {"km_tot": km}

    running = section(c40, "engine").get("running")
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
        for name, theirs in other.sections.items():
            mine = self.sections.get(name)
            if mine is None or theirs["at"] > mine["at"]:
                self.sections[name] = theirs


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
