"""Reading the telemetry record (the shape of ``schemas/c40_enriched.avsc``). Pure: the services'
business modules share it, so it imports nothing from Django, pymongo or confluent_kafka."""

from __future__ import annotations

from typing import Any


def field(record: dict, *path: str) -> Any:
    """The value at ``path`` in nested dicts, or None where any level is missing or null."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def poi_names(record: dict) -> list[str]:
    """The names of the points of interest in ``record``, in order, without duplicates."""
    names: list[str] = []
    for poi in field(record, "location", "pointsOfInterest") or []:
        name = poi.get("name") if isinstance(poi, dict) else None
        if name and name not in names:
            names.append(name)
    return names
