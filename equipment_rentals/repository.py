"""Reads the usage ledger (``usage_deltas``, written by equipment_usage) for rental statements.

The ledger, not ``usage_daily``: daily totals are cut at midnights of USAGE_TIME_ZONE, while a
contract's periods start at its on-rent time in its own zone; entries split at any instant. The
ledger is already late-corrected (late readings spliced in, docs/USAGE.md), so reading it again
gives the corrected hours.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING

from equipment_rentals.business_periods import Interval

TOO_LATE = "too_late"
# Only what the statement reads (not the entry's days, sources and prices).
FIELDS = {"_id": 0, "interval_start": 1, "interval_end": 1, "hours": 1, "start.hours": 1, "end.hours": 1}


def interval_from_document(document: dict) -> Interval:
    start = document.get("start") or {}
    return Interval(
        start_ms=document.get("interval_start"),
        end_ms=document["interval_end"],
        hours=document.get("hours"),
        start_meter=start.get("hours"),
        end_meter=(document.get("end") or {}).get("hours"),
    )


class RentalUsageRepository:
    def __init__(self, database: Any, collection: str = "usage_deltas") -> None:
        self.deltas = database[collection]

    def intervals(self, identifier: str, start_ms: int, end_ms: int) -> list[Interval]:
        """The entries that touch ``[start_ms, end_ms]`` oldest first: the newest one ending at or
        before ``start_ms`` (the meter there), every one ending inside, and the first ending after
        (it spans ``end_ms``). Two range scans of the (identifier, interval_end) index."""
        chained = {"identifier": identifier, "flags": {"$ne": TOO_LATE}}
        before = list(
            self.deltas.find({**chained, "interval_end": {"$lte": start_ms}}).sort("interval_end", DESCENDING).limit(1)
        )
        documents = before
        for document in self.deltas.find({**chained, "interval_end": {"$gt": start_ms}}).sort(
            "interval_end", ASCENDING
        ):
            documents.append(document)
            if document["interval_end"] > end_ms:
                break
        return [interval_from_document(document) for document in documents]

    def readings(self, identifier: str | None, start_ms: int, end_ms: int, limit: int) -> list[dict]:
        """Readings with engine hours, ``start_ms <= time < end_ms``, by machine and time."""
        query: dict[str, Any] = {"interval_end": {"$gte": start_ms, "$lt": end_ms}, "end.hours": {"$ne": None}}
        if identifier is not None:
            query["identifier"] = identifier
        cursor = self.deltas.find(query, {"_id": 0, "identifier": 1, "interval_end": 1, "end.hours": 1})
        cursor = cursor.sort([("identifier", ASCENDING), ("interval_end", ASCENDING)]).limit(limit)
        return [
            {"machine": doc["identifier"], "timestamp": doc["interval_end"], "hours_tot": doc["end"]["hours"]}
            for doc in cursor
        ]
