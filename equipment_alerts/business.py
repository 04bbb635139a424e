"""The alert engine's vocabulary (pure): a reading as the rules see it, a rule's configuration, a
finding (what a rule says about a machine's readings) and the alert id.

Rules are judged in event time over a machine's readings sorted by timestamp: a finding is a
function of the set of readings, never of their arrival order (docs/ALERTS.md, "Late readings").
Nothing here imports Django, pymongo or Kafka; the consumer (handlers.py) does the I/O around it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any

from stream.records import field as record_field
from stream.records import poi_names, section

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

AFTER_HOURS = "after_hours"
OVER_BASELINE = "over_baseline"
SITE_EXIT = "site_exit"
MOVED_WHILE_OFF = "moved_while_off"
SILENT = "silent"
LOW_FUEL = "low_fuel"
REFUEL = "refuel"
FUEL_DRAIN = "fuel_drain"
METER_ANOMALY = "meter_anomaly"
EXCESSIVE_IDLE = "excessive_idle"
LOW_UTIL = "low_util"
KINDS = (
    AFTER_HOURS,
    OVER_BASELINE,
    SITE_EXIT,
    MOVED_WHILE_OFF,
    SILENT,
    LOW_FUEL,
    REFUEL,
    FUEL_DRAIN,
    METER_ANOMALY,
    EXCESSIVE_IDLE,
    LOW_UTIL,
)

FLEET, SITE, CLASS, MACHINE = "fleet", "site", "class", "machine"
SCOPES = (FLEET, SITE, CLASS, MACHINE)

# Each kind's threshold and duration when a rule leaves them empty (docs/ALERTS.md, "Rules").
# threshold: after_hours -, over_baseline hours a local day, site_exit -, moved_while_off metres,
# silent hours (the floor of the silence limit), low_fuel percent, refuel/fuel_drain litres (the
# floor; the tank share is DEFAULT_TANK_SHARE), meter_anomaly hours of tolerance, excessive_idle the
# daily idle share (% of engine hours), low_util the 7-day utilisation (% of available hours).
# duration (minutes): after_hours grace, site_exit span, low_fuel time below, refuel/drain merge gap,
# excessive_idle the longest idle run.
DEFAULT_THRESHOLD = {
    AFTER_HOURS: 0.0,
    OVER_BASELINE: 8.0,
    SITE_EXIT: 0.0,
    MOVED_WHILE_OFF: 200.0,
    SILENT: 4.0,
    LOW_FUEL: 15.0,
    REFUEL: 10.0,
    FUEL_DRAIN: 10.0,
    METER_ANOMALY: 0.25,
    EXCESSIVE_IDLE: 30.0,
    LOW_UTIL: 35.0,
}
DEFAULT_DURATION_MIN = {
    AFTER_HOURS: 10.0,
    OVER_BASELINE: 0.0,
    SITE_EXIT: 5.0,
    MOVED_WHILE_OFF: 0.0,
    SILENT: 0.0,
    LOW_FUEL: 10.0,
    REFUEL: 15.0,
    FUEL_DRAIN: 15.0,
    METER_ANOMALY: 0.0,
    EXCESSIVE_IDLE: 30.0,
    LOW_UTIL: 0.0,
}
DEFAULT_TANK_SHARE = 0.03  # of the tank: a refuel or a drain is at least max(threshold L, 3 %)
MONDAY_TO_FRIDAY = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Reading:
    """The fields of one telemetry record that the rules read; None where the record has none."""

    timestamp: int
    hours: float | None = None
    km: float | None = None
    running: bool | None = None
    latitude: float | None = None
    longitude: float | None = None
    pois: tuple[str, ...] | None = None  # None: unknown (no list sent), () in no site
    level_pct: float | None = None
    fuel_used_l: float | None = None


def reading_from_record(record: dict) -> Reading:
    c40 = section(record, "c40")
    odometry, engine, fuel = section(c40, "odometry"), section(c40, "engine"), section(c40, "fuel")
    gps = record_field(record, "location", "GPS") or {}
    listed = record_field(record, "location", "pointsOfInterest")  # null: unknown, not "in no site"
    return Reading(
        timestamp=record["timestamp"],
        hours=odometry.get("hours_tot"),
        km=odometry.get("km_tot"),
        running=engine.get("running"),
        latitude=gps.get("latitude") if isinstance(gps, dict) else None,
        longitude=gps.get("longitude") if isinstance(gps, dict) else None,
        pois=None if listed is None else tuple(poi_names(record)),
        level_pct=fuel.get("level_pct"),
        fuel_used_l=fuel.get("used_tot_l"),
    )


def reading_document(reading: Reading) -> list[Any]:
    """A compact list (the machine's window in MongoDB holds thousands of them)."""
    return [
        reading.timestamp,
        reading.hours,
        reading.km,
        reading.running,
        reading.latitude,
        reading.longitude,
        None if reading.pois is None else list(reading.pois),
        reading.level_pct,
        reading.fuel_used_l,
    ]


def reading_from_document(document: list[Any]) -> Reading:
    ts, hours, km, running, lat, lon, pois, level, used = document
    return Reading(ts, hours, km, running, lat, lon, None if pois is None else tuple(pois), level, used)


@dataclass(frozen=True)
class Shift:
    """The working window: local ``start``..``end`` on ``weekdays`` (0 = Monday), not on ``holidays``."""

    start: time = time(7, 0)
    end: time = time(18, 0)
    weekdays: tuple[int, ...] = MONDAY_TO_FRIDAY
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class RuleConfig:
    """One configured rule. ``key`` names it in alert ids ("rule:12", "builtin:after_hours")."""

    key: str
    kind: str
    scope: str = FLEET
    scope_value: str = ""
    threshold: float | None = None
    duration_min: float | None = None
    site: str = ""  # site_exit: the assigned site (a site-scoped rule: its scope value)
    time_zone: str = "UTC"
    shift: Shift = field(default_factory=Shift)
    tank_capacity_l: float = 400.0

    @property
    def limit(self) -> float:
        return DEFAULT_THRESHOLD[self.kind] if self.threshold is None else self.threshold

    @property
    def duration_ms(self) -> int:
        minutes = DEFAULT_DURATION_MIN[self.kind] if self.duration_min is None else self.duration_min
        return int(minutes * MINUTE_MS)

    @property
    def assigned_site(self) -> str:
        return self.site or (self.scope_value if self.scope == SITE else "")

    def with_tank(self, capacity_l: float | None) -> RuleConfig:
        return self if capacity_l is None or capacity_l <= 0 else replace(self, tank_capacity_l=capacity_l)


def rule_applies(rule: RuleConfig, machine: str, machine_class: str | None, sites: frozenset[str]) -> bool:
    """Whether ``rule`` watches this machine: fleet all; machine by identifier; class by the
    machine's class (its model, docs/ALERTS.md); site when the machine was seen in that site in the
    readings judged (``sites``)."""
    if rule.scope == FLEET:
        return True
    if rule.scope == MACHINE:
        return machine == rule.scope_value
    if rule.scope == CLASS:
        return machine_class is not None and machine_class.casefold() == rule.scope_value.casefold()
    if rule.scope == SITE:
        return rule.scope_value in sites
    return False


@dataclass(frozen=True)
class Finding:
    """What a rule found: a condition from ``start`` to ``end`` (None: still on at the newest
    reading) with a ``value`` (minutes, hours, litres, metres: the rule's unit)."""

    rule: str
    kind: str
    start: int
    end: int | None
    value: float
    detail: str = ""


def alert_id(machine: str, rule: str, start: int | str) -> str:
    """hash(machine, rule, start): the same condition found again (a replay) has the same id."""
    digest = hashlib.sha256(f"{machine}\x1f{rule}\x1f{start}".encode())
    return digest.hexdigest()[:24]
