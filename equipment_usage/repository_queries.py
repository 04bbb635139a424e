"""``UsageQueries``: the API's reads of ``UsageRepository`` (usage search, ledger entries, readings,
references), and the queries they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from pymongo import ASCENDING

from equipment_usage.repository_documents import GROUP_FIELDS


@dataclass(frozen=True)
class UsageFilter:
    """Filters of the usage search; None means "any". Dates are local ``YYYY-MM-DD``, inclusive."""

    identifier: str | None = None
    poi: str | None = None
    date_from: str | None = None
    date_to: str | None = None


class UsageQueries:
    """The API's reads of ``UsageRepository`` (a mixin: it uses the repository's collections)."""

    # -- the API's reads ---------------------------------------------------------------------------

    def search(self, filters: UsageFilter, group_by: str) -> list[dict]:
        """Hours, km and cost of the daily totals matching ``filters``, per ``group_by`` value."""
        field = GROUP_FIELDS[group_by]
        pipeline = [
            {"$match": usage_query(filters)},
            {
                "$group": {
                    "_id": f"${field}",
                    "hours": {"$sum": "$hours"},
                    "km": {"$sum": "$km"},
                    "cost": {"$sum": "$cost"},
                    "deltas": {"$sum": "$deltas"},
                    "unpriced": {"$sum": "$unpriced"},
                    "currencies": {"$push": "$currencies"},
                }
            },
        ]
        groups = []
        for group in self.daily.aggregate(pipeline):
            currencies = sorted({c for cs in group["currencies"] for c in cs or ()})
            priced = group["deltas"] > group["unpriced"]
            groups.append(
                {
                    "key": group["_id"],
                    "hours": float(group["hours"]),
                    "km": float(group["km"]),
                    "cost": float(group["cost"]) if priced else None,
                    "currencies": currencies,
                    "deltas": group["deltas"],
                    "unpriced": group["unpriced"],
                }
            )
        # Sorted here, not by a $sort stage: a handful of groups, and the in-process engines return
        # $group's output already in key order, so a $sort stage could not be tested without a server.
        return sorted(groups, key=itemgetter("key"))

    def count_entries(self, identifier: str, start: int | None, end: int | None) -> int:
        return self.deltas.count_documents(entries_query(identifier, start, end))

    def find_entries(self, identifier: str, start: int | None, end: int | None, skip: int = 0, limit: int = 100):
        """A machine's ledger entries by interval end, oldest first."""
        if limit <= 0:
            return []
        cursor = self.deltas.find(entries_query(identifier, start, end)).sort("interval_end", ASCENDING)
        return list(cursor.skip(skip).limit(limit))

    def count_readings(self, identifier: str, start: int, end: int, counter: str) -> int:
        """How many of a machine's readings with ``start <= time < end`` carry ``counter``."""
        return self.deltas.count_documents(readings_query(identifier, start, end, counter))

    def find_readings(
        self, identifier: str, start: int, end: int, counter: str, skip: int = 0, limit: int = 100
    ) -> list[dict]:
        """A machine's readings (``{timestamp, hours, km}``) with ``start <= time < end`` that carry
        ``counter`` (``"hours"`` or ``"km"``), oldest first. Every reading that reached the rules has
        its ledger entry, keyed by its event time (``interval_end``), so this is a range scan of the
        (identifier, interval_end) index."""
        if limit <= 0:
            return []
        cursor = (
            self.deltas.find(readings_query(identifier, start, end, counter), {"_id": 0, "end": 1})
            .sort("interval_end", ASCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [
            {"timestamp": doc["end"]["timestamp"], "hours": doc["end"].get("hours"), "km": doc["end"].get("km")}
            for doc in cursor
        ]

    def count_references(self) -> int:
        return self.last_readings.count_documents({})

    def find_references(self, skip: int = 0, limit: int = 100) -> list[dict]:
        if limit <= 0:
            return []
        return list(self.last_readings.find().sort("_id", ASCENDING).skip(skip).limit(limit))


def usage_query(filters: UsageFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if filters.identifier is not None:
        query["identifier"] = filters.identifier
    if filters.poi is not None:
        query["source"] = filters.poi
    dates: dict[str, str] = {}
    if filters.date_from is not None:
        dates["$gte"] = filters.date_from
    if filters.date_to is not None:
        dates["$lte"] = filters.date_to
    if dates:
        query["date"] = dates
    return query


def entries_query(identifier: str, start: int | None, end: int | None) -> dict[str, Any]:
    query: dict[str, Any] = {"identifier": identifier}
    bounds: dict[str, int] = {}
    if start is not None:
        bounds["$gte"] = start
    if end is not None:
        bounds["$lte"] = end
    if bounds:
        query["interval_end"] = bounds
    return query


def readings_query(identifier: str, start: int, end: int, counter: str) -> dict[str, Any]:
    if counter not in ("hours", "km"):
        raise ValueError(f"Unknown counter {counter!r}; expected 'hours' or 'km'.")
    return {"identifier": identifier, "interval_end": {"$gte": start, "$lt": end}, f"end.{counter}": {"$ne": None}}
