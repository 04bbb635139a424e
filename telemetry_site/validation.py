"""Plausibility rules for decoded telemetry: pure, driven by the ``rules`` dict (settings).

A record that decodes but breaks one of these rules is dead-lettered with the reasons, so a
latitude of 123 or a clock in the year 2300 never reaches the state, the history or an invoice.
This module imports nothing from Django, pymongo or confluent_kafka.
"""

from __future__ import annotations

import math

from telemetry_site.records import field

MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000

DEFAULT_RULES = {
    "MAX_AGE_DAYS": 3650,
    "MAX_FUTURE_MINUTES": 10,
    "MAX_STRING_LENGTH": 1024,
    "MAX_POINTS_OF_INTEREST": 100,
}

# Numeric fields of the telemetry record, as paths, with the range each must fall in.
NUMERIC_RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("location", "GPS", "latitude"): (-90.0, 90.0),
    ("location", "GPS", "longitude"): (-180.0, 180.0),
    ("c40", "odometry", "hours_tot"): (0.0, math.inf),
    ("c40", "odometry", "km_tot"): (0.0, math.inf),
    ("c40", "fuel", "used_tot_l"): (0.0, math.inf),
    ("c40", "fuel", "level_pct"): (0.0, 100.0),
}
STRING_FIELDS: tuple[tuple[str, ...], ...] = (
    ("identifier",),
    ("base", "code"),
    ("description", "brand"),
    ("description", "model"),
    ("location", "address"),
)


def validate_telemetry(record: dict, now_ms: int, rules: dict | None = None) -> list[str]:
    """The reasons ``record`` is implausible; an empty list means it is acceptable."""
    rules = {**DEFAULT_RULES, **(rules or {})}
    problems: list[str] = []
    max_len = rules["MAX_STRING_LENGTH"]

    identifier = record.get("identifier")
    if not isinstance(identifier, str) or not identifier.strip():
        problems.append("identifier: must be a non-empty string")

    timestamp = record.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        problems.append("timestamp: must be epoch milliseconds (an integer)")
    else:
        earliest = now_ms - rules["MAX_AGE_DAYS"] * MS_PER_DAY
        latest = now_ms + rules["MAX_FUTURE_MINUTES"] * MS_PER_MINUTE
        if not earliest <= timestamp <= latest:
            problems.append(
                f"timestamp: {timestamp} is outside the plausible window [{earliest}, {latest}] "
                f"({rules['MAX_AGE_DAYS']} days back, {rules['MAX_FUTURE_MINUTES']} minutes ahead)"
            )

    for path in STRING_FIELDS:
        value = field(record, *path)
        if isinstance(value, str) and len(value) > max_len:
            problems.append(f"{'.'.join(path)}: {len(value)} characters, more than {max_len}")

    for path, (low, high) in NUMERIC_RANGES.items():
        value = field(record, *path)
        if value is None:
            continue
        name = ".".join(path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name}: must be a number")
        elif not math.isfinite(value):
            problems.append(f"{name}: must be finite, got {value}")
        elif not low <= value <= high:
            problems.append(f"{name}: {value} is outside [{low}, {high}]")

    latitude = field(record, "location", "GPS", "latitude")
    longitude = field(record, "location", "GPS", "longitude")
    if (latitude is None) != (longitude is None):
        problems.append("location.GPS: latitude and longitude must both be present or both null")

    pois = field(record, "location", "pointsOfInterest") or []
    if len(pois) > rules["MAX_POINTS_OF_INTEREST"]:
        problems.append(f"location.pointsOfInterest: {len(pois)} entries, more than {rules['MAX_POINTS_OF_INTEREST']}")
    for poi in pois:
        name = poi.get("name") if isinstance(poi, dict) else None
        if not isinstance(name, str) or not name or len(name) > max_len:
            problems.append("location.pointsOfInterest: each entry needs a name of 1 to MAX_STRING_LENGTH characters")
            break
    return problems
