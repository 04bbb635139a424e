"""Reading the telemetry record (the shape of ``schemas/c40_enriched.avsc``). Pure: the services'
business modules share it, so it imports nothing from Django, pymongo or confluent_kafka."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_ABSENT: Mapping[str, Any] = MappingProxyType({})


def field(record: dict, *path: str) -> Any:
    """The value at ``path`` in nested dicts, or None where any level is missing or null."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def section(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``parent[key]`` when it is a dict, else an empty mapping (a missing or null section).

    The hot paths look each nested section up once with it, rather than walking full paths."""
    value = parent.get(key)
    return value if isinstance(value, dict) else _ABSENT


def poi_names(record: dict) -> list[str]:
    """The names of the points of interest in ``record``, in order, without duplicates."""
    names: list[str] = []
    for poi in field(record, "location", "pointsOfInterest") or []:
        name = poi.get("name") if isinstance(poi, dict) else None
        if name and name not in names:
            names.append(name)
    return names
