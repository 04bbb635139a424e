"""Usage rules: intervals split across local days and cost sources, and the daily usage records they publish.

Pure: no Django, pymongo or Kafka; state comes in as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from equipment_usage.business_ledger import DayUsage, Delta, Entry, Rates, Reference, SourceUsage
from equipment_usage.business_pricing import get_cost_sources, price

# -- days, cost sources, prices ---------------------------------------------------------------------


def timestamp_to_date(timestamp_ms: int, time_zone: str = "UTC") -> str:
    """The local date (YYYY-MM-DD) of an instant in ``time_zone``."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=ZoneInfo(time_zone)).date().isoformat()


def local_midnight_ms(day: date, time_zone: str) -> int:
    """The instant (epoch ms) local midnight starts ``day`` in ``time_zone``."""
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone))
    return round(midnight.astimezone(UTC).timestamp() * 1000)


def split_by_day(start_ms: int, end_ms: int, time_zone: str = "UTC") -> list[tuple[str, int, int]]:
    """``(date, start, end)`` pieces of ``[start_ms, end_ms]`` cut at local midnights.

    An interval ending exactly at midnight belongs wholly to the day before; pieces are never
    empty, except for an empty interval, which is one empty piece on its day.
    """
    if end_ms <= start_ms:
        return [(timestamp_to_date(start_ms, time_zone), start_ms, end_ms)]
    pieces = []
    cursor = start_ms
    zone = ZoneInfo(time_zone)
    while cursor < end_ms:
        name, next_midnight = _local_day(datetime.fromtimestamp(cursor / 1000, tz=zone).date(), time_zone)
        boundary = min(end_ms, next_midnight)
        pieces.append((name, cursor, boundary))
        cursor = boundary
    return pieces


def local_day_bounds(day: date, time_zone: str) -> tuple[str, int]:
    """``day`` as YYYY-MM-DD and the instant its next local midnight starts."""
    return day.isoformat(), local_midnight_ms(day + timedelta(days=1), time_zone)


# Cached: a batch's intervals fall on a few days, and the time-zone arithmetic was a fifth of
# ``allocate``. Wrapped here rather than decorated so that the function itself stays plain (and
# mutation testing still reaches it: mutmut leaves decorated functions alone).
_local_day = lru_cache(maxsize=4096)(local_day_bounds)


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def allocate(
    delta: Delta,
    start_ms: int,
    end_ms: int,
    pois: Sequence[str],
    rates: Rates | None,
    time_zone: str = "UTC",
) -> tuple[DayUsage, ...]:
    """Split a delta across local days (in proportion to time), then across cost sources (equal
    shares), pricing each part."""
    sources = get_cost_sources(pois)
    days = []
    span = end_ms - start_ms
    for day, piece_start, piece_end in split_by_day(start_ms, end_ms, time_zone):
        fraction = (piece_end - piece_start) / span if span > 0 else 1.0
        hours, km = _scaled(delta.hours, fraction), _scaled(delta.km, fraction)
        parts = []
        for source, share in sources:
            part_hours, part_km = _scaled(hours, share), _scaled(km, share)
            parts.append(SourceUsage(source, share, part_hours, part_km, price(part_hours, part_km, rates)))
        days.append(DayUsage(day, piece_start, piece_end, hours, km, price(hours, km, rates), tuple(parts)))
    return tuple(days)


def record_id(identifier: str, start: Reference, interval_end: int, day: str) -> str:
    """Deterministic id of a published usage record: the same delta and day always give the same id.

    It names the interval's both ends and the times the start's counters were read (they differ from
    the start's own time after a reading without that counter), so a corrected delta never reuses
    the id of the version it replaces.
    """
    key = f"{identifier}|{start.timestamp}|{start.hours_at}|{start.km_at}|{interval_end}|{day}"
    return hashlib.sha1(key.encode()).hexdigest()


def usage_records(entry: Entry, retracted: bool = False) -> list[dict[str, Any]]:
    """The ``c40.usage.UsageDelta`` records of a counted entry, one per local day it touches; with
    ``retracted``, the same records flagged as no longer counting. An entry that counts nothing
    has no days (see ``entry_for``), so it has no records."""
    return [
        {
            "record_id": record_id(entry.identifier, entry.start, entry.end.timestamp, day.date),
            "identifier": entry.identifier,
            "interval_start": day.start,
            "interval_end": day.end,
            "date": day.date,
            "delta_hours": day.hours,
            "delta_km": day.km,
            "currency": entry.currency,
            "cost_sources": [
                {"source": s.source, "share": s.share, "hours": s.hours, "km": s.km, "cost": s.cost}
                for s in day.sources
            ],
            "retracted": retracted,
        }
        for day in entry.days
    ]


def correction_records(entry: Entry) -> list[dict[str, Any]]:
    """What publishing ``entry`` sends: the retractions of the versions it replaced, if any (a
    re-priced entry can hold two, see ``repriced``), oldest first, then its own records (same key,
    so the same partition and this order)."""
    retractions: list[dict[str, Any]] = []
    version = entry.replaced
    while version is not None:
        retractions = usage_records(version, retracted=True) + retractions
        version = version.replaced
    return retractions + usage_records(entry)
