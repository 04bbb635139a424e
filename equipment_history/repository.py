"""``PositionRepository``: every position of every machine, one document per (identifier, timestamp)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, OperationFailure

from equipment_history.business import MS_PER_DAY, Position, event_time

DUPLICATE_KEY = 11000
TTL_INDEX = "event_time_ttl"
_PROJECTION = {"_id": 0, "event_time": 0}


def position_document(position: Position) -> dict[str, Any]:
    """The stored shape: ``timestamp`` (ms) is what queries use; ``event_time`` is the same instant as
    a BSON date, because a TTL index only expires documents by a date field."""
    return {
        "identifier": position.identifier,
        "timestamp": position.timestamp,
        "event_time": event_time(position.timestamp),
        "latitude": position.latitude,
        "longitude": position.longitude,
        "address": position.address,
        "points_of_interest": list(position.points_of_interest),
        "base": position.base,
    }


def position_from_document(document: dict) -> Position:
    return Position(
        identifier=document["identifier"],
        timestamp=document["timestamp"],
        latitude=document["latitude"],
        longitude=document["longitude"],
        address=document.get("address"),
        points_of_interest=tuple(document.get("points_of_interest") or ()),
        base=document.get("base"),
    )


def _ms_to_date(value: int) -> datetime:
    return event_time(value)


class PositionRepository:
    def __init__(self, database: Any, collection: str = "positions", retention_days: int = 30) -> None:
        self.collection = database[collection]
        self.retention_days = retention_days

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * MS_PER_DAY // 1000

    def ensure_indexes(self) -> None:
        # The unique key makes a replayed or duplicated message a no-op; it also serves the range
        # queries of one machine, sorted by time.
        self.collection.create_index(
            [("identifier", ASCENDING), ("timestamp", ASCENDING)], name="identifier_timestamp", unique=True
        )
        existing = self.collection.index_information().get(TTL_INDEX)
        if existing is not None and existing.get("expireAfterSeconds") != self.retention_seconds:
            # The retention setting changed. create_index refuses to alter an index's options, and
            # collMod is not in every pymongo-compatible engine: drop and rebuild (a rare, one-off cost).
            with contextlib.suppress(OperationFailure):  # another process dropped it first
                self.collection.drop_index(TTL_INDEX)
        # The TTL index also serves the "today" query, which is a range over all machines.
        self.collection.create_index(
            [("event_time", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=self.retention_seconds
        )

    def insert(self, positions: Iterable[Position]) -> int:
        """Insert in one unordered bulk write; returns how many were new (duplicates are skipped)."""
        return self.insert_documents([position_document(position) for position in positions])

    def insert_documents(self, documents: list[dict[str, Any]]) -> int:
        """``insert`` for documents already in the stored shape (``business.position_documents``, the
        consumer's path); same bulk write, same answer."""
        if not documents:
            return 0
        try:
            return len(self.collection.insert_many(documents, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            # Unordered: every non-duplicate was inserted; a duplicate is a replay and changes nothing.
            details = exc.details
            errors = details.get("writeErrors", [])
            if details.get("writeConcernErrors") or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return details.get("nInserted", 0)

    def between(self, identifier: str, start: int, end: int, limit: int, skip: int = 0) -> list[Position]:
        """Up to ``limit`` positions of one machine with ``start <= timestamp < end``, oldest first,
        after skipping ``skip`` of them."""
        if limit <= 0 or start >= end:
            return []
        cursor = (
            self.collection.find({"identifier": identifier, "timestamp": {"$gte": start, "$lt": end}}, _PROJECTION)
            .sort("timestamp", ASCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [position_from_document(document) for document in cursor]

    def count_between(self, identifier: str, start: int, end: int) -> int:
        """How many positions of one machine have ``start <= timestamp < end`` (same index)."""
        if start >= end:
            return 0
        return self.collection.count_documents({"identifier": identifier, "timestamp": {"$gte": start, "$lt": end}})

    def _latest_pipeline(self, start: int, end: int, poi: str | None) -> list[dict]:
        pipeline: list[dict] = [
            {"$match": {"event_time": {"$gte": _ms_to_date(start), "$lt": _ms_to_date(end)}}},
            {"$sort": {"identifier": ASCENDING, "timestamp": DESCENDING}},
            {"$group": {"_id": "$identifier", "latest": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$latest"}},  # not $replaceWith: litemongo lacks it
        ]
        if poi is not None:
            # Filter after picking the latest: "machines that are at this site now", not "the last
            # time each machine was at this site".
            pipeline.append({"$match": {"points_of_interest": poi}})
        return pipeline

    def count_latest(self, start: int, end: int, poi: str | None = None) -> int:
        result = list(self.collection.aggregate([*self._latest_pipeline(start, end, poi), {"$count": "n"}]))
        return result[0]["n"] if result else 0

    def latest(self, start: int, end: int, poi: str | None = None, skip: int = 0, limit: int = 100) -> list[Position]:
        """The newest position of each machine in ``[start, end)``, ordered by identifier."""
        if limit <= 0:
            return []
        pipeline = [
            *self._latest_pipeline(start, end, poi),
            {"$sort": {"identifier": ASCENDING}},
            {"$skip": skip},
            {"$limit": limit},
            {"$project": _PROJECTION},
        ]
        # A large fleet's day may exceed the in-memory sort limit; MongoDB 6.0+ then spills to disk by
        # default (allowDiskUseByDefault), so no option is passed (the in-process engines warn on it).
        return [position_from_document(document) for document in self.collection.aggregate(pipeline)]
