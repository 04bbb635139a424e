"""Rules of the position-history service. Pure: no Django, pymongo or Kafka.

A position is one GPS fix of one machine at one event time; (identifier, timestamp) is its
identity, so storing, replaying and merging all dedupe on that pair. Time is epoch milliseconds
throughout; "now" and the time zone are arguments, never read here.

The hot store keeps ``retention`` of history; older ranges come from the archive service. At the
seam the two may overlap (MongoDB's TTL monitor runs about once a minute, and its clock is not
ours), so the archive is asked for a little past the boundary and the merge drops the duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from stream.records import poi_names

MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class Position:
    """Where a machine was at an event time, with what the upstream pipeline knew about the place."""

    identifier: str
    timestamp: int
    latitude: float
    longitude: float
    address: str | None = None
    points_of_interest: tuple[str, ...] = ()
    base: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.identifier, self.timestamp


class ArchiveStatus(StrEnum):
    """What the archive contributed to an answer (the ``archive`` field of the API)."""

    NOT_NEEDED = "not_needed"  # the range lies within the hot retention window
    NOT_CONFIGURED = "not_configured"  # the range needs it, but no archive URL is set
    MERGED = "merged"  # the archive answered; its positions are merged in
    UNAVAILABLE = "unavailable"  # the archive failed, timed out or answered garbage: hot part only


def extract_poi_names(record: dict) -> tuple[str, ...]:
    """The names of the points of interest in ``record``, in order, without duplicates."""
    return tuple(poi_names(record))


def extract_position(record: dict) -> Position | None:
    """The position a telemetry record reports, or None when it has no GPS fix."""
    location = record.get("location")
    if not isinstance(location, dict):
        return None
    gps = location.get("GPS")
    if not isinstance(gps, dict):
        return None
    latitude, longitude = gps.get("latitude"), gps.get("longitude")
    if latitude is None or longitude is None:
        return None
    base = record.get("base")
    return Position(
        identifier=record["identifier"],
        timestamp=record["timestamp"],
        latitude=float(latitude),
        longitude=float(longitude),
        address=location.get("address"),
        points_of_interest=extract_poi_names(record),
        base=base.get("code") if isinstance(base, dict) else None,
    )


def extract_positions(records: Iterable[dict]) -> list[Position]:
    """The distinct positions of a batch (first seen wins), so a batch's insert carries no duplicates."""
    positions: dict[tuple[str, int], Position] = {}
    for record in records:
        position = extract_position(record)
        if position is not None:
            positions.setdefault(position.key, position)
    return list(positions.values())


_from_timestamp = datetime.fromtimestamp  # bound once: the insert path calls it per message


def event_time(timestamp: int) -> datetime:
    """``timestamp`` (epoch ms) as an aware UTC datetime: what the TTL index of the store expires by."""
    return _from_timestamp(timestamp / 1000, UTC)


def position_documents(records: Iterable[dict]) -> list[dict[str, Any]]:
    """The stored documents of a batch's distinct positions (first seen wins), in one pass.

    The insert path of the consumer: the same documents as ``position_document(p)`` for each
    ``p`` of ``extract_positions(records)`` (the repository's stored shape), without building a
    ``Position`` per message or walking a section twice. A test keeps the two paths identical.
    """
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        location = record.get("location")
        if not isinstance(location, dict):
            continue
        gps = location.get("GPS")
        if not isinstance(gps, dict):
            continue
        latitude = gps.get("latitude")
        longitude = gps.get("longitude")
        if latitude is None or longitude is None:
            continue
        identifier = record["identifier"]
        timestamp = record["timestamp"]
        key = (identifier, timestamp)
        if key in documents:
            continue
        base = record.get("base")
        documents[key] = {
            "identifier": identifier,
            "timestamp": timestamp,
            "event_time": _from_timestamp(timestamp / 1000, UTC),
            "latitude": float(latitude),
            "longitude": float(longitude),
            "address": location.get("address"),
            "points_of_interest": poi_names(record),
            "base": base.get("code") if isinstance(base, dict) else None,
        }
    return list(documents.values())


def merge_positions(hot: Iterable[Position], archived: Iterable[Position]) -> list[Position]:
    """Hot and archived positions as one list sorted by time, each (identifier, timestamp) once.

    Where both hold the same position, the hot copy wins: it is what this service stored itself.
    """
    merged: dict[tuple[str, int], Position] = {}
    for position in archived:
        merged[position.key] = position
    for position in hot:
        merged[position.key] = position
    return sorted(merged.values(), key=lambda p: (p.timestamp, p.identifier))


def retention_boundary(now_ms: int, retention_days: int) -> int:
    """The oldest instant the hot store is guaranteed to still hold."""
    return now_ms - retention_days * MS_PER_DAY


def archive_range(start: int, end: int, after: int | None, boundary: int, overlap_ms: int) -> tuple[int, int] | None:
    """The half-open range ``[from, to)`` to ask the archive for, or None if the hot store covers it.

    ``start``/``end`` is the requested range (end exclusive), ``after`` the keyset cursor (the last
    timestamp already served, exclusive). The archive is asked up to ``overlap_ms`` past the
    retention boundary so that nothing falls between the two stores; a range that starts inside the
    retention window does not need the archive at all.
    """
    low = start if after is None else max(start, after + 1)
    if low >= boundary:
        return None
    return low, min(end, boundary + overlap_ms)


def page_of(positions: list[Position], limit: int) -> tuple[list[Position], int | None]:
    """The first ``limit`` positions and the cursor of the next page (None when this is the last).

    ``positions`` must be sorted by time and hold up to ``limit + 1`` entries: the extra one only
    tells whether a next page exists.
    """
    page = positions[:limit]
    next_after = page[-1].timestamp if len(positions) > limit and page else None
    return page, next_after


def day_window(now_ms: int, time_zone: str) -> tuple[int, int]:
    """``[start, end)`` in epoch ms of the local calendar day containing ``now_ms`` in ``time_zone``.

    Computed from local midnights, so a day with a daylight-saving change is 23 or 25 hours long.
    """
    zone = ZoneInfo(time_zone)
    local = datetime.fromtimestamp(now_ms / 1000, tz=zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = midnight.date() + timedelta(days=1)
    next_midnight = datetime(following.year, following.month, following.day, tzinfo=zone)
    return int(midnight.timestamp() * 1000), int(next_midnight.timestamp() * 1000)


class MalformedArchiveAnswer(ValueError):
    """The archive answered something that is not the documented JSON shape."""


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedArchiveAnswer(f"{name} must be a finite number, got {value!r:.40}")
    if not low <= value <= high:
        raise MalformedArchiveAnswer(f"{name} {value} is outside [{low}, {high}]")
    return float(value)


def _optional_text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise MalformedArchiveAnswer(f"{name} must be a string or null")
    return value


def parse_archive_positions(identifier: str, payload: Any, start: int, end: int) -> list[Position]:
    """The positions of an archive answer (``{"positions": [...]}``), validated item by item.

    Anything off-contract rejects the whole answer: merging half-understood data would be worse
    than answering with the hot part and saying the archive was unavailable. Positions outside
    ``[start, end)`` are dropped, because serving them would break the keyset walk.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("positions"), list):
        raise MalformedArchiveAnswer('expected a JSON object with a "positions" list')
    positions = []
    for index, item in enumerate(payload["positions"]):
        where = f"positions[{index}]"
        if not isinstance(item, dict):
            raise MalformedArchiveAnswer(f"{where} is not an object")
        timestamp = item.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise MalformedArchiveAnswer(f"{where}.timestamp must be epoch milliseconds (an integer)")
        pois = item.get("points_of_interest") or []
        if not isinstance(pois, list) or not all(isinstance(name, str) for name in pois):
            raise MalformedArchiveAnswer(f"{where}.points_of_interest must be a list of names")
        position = Position(
            identifier=identifier,
            timestamp=timestamp,
            latitude=_number(item.get("latitude"), f"{where}.latitude", -90.0, 90.0),
            longitude=_number(item.get("longitude"), f"{where}.longitude", -180.0, 180.0),
            address=_optional_text(item.get("address"), f"{where}.address"),
            points_of_interest=tuple(pois),
            base=_optional_text(item.get("base"), f"{where}.base"),
        )
        if start <= timestamp < end:
            positions.append(position)
    return positions
