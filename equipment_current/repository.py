"""``CurrentStateRepository``: the latest state of every machine, one document per machine."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne

from equipment_current.business import StateUpdate
from stream.mongo import bulk_upsert


@dataclass(frozen=True)
class FleetFilter:
    """Filters of the fleet snapshot; None means "any"."""

    brand: str | None = None
    model: str | None = None
    poi: str | None = None
    updated_since: int | None = None
    stale_before: int | None = None  # only machines whose newest event is older than this (ms)
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat


def upsert_newer_sections(update: StateUpdate) -> UpdateOne:
    """One atomic upsert that replaces each section only where the update is strictly newer.

    An aggregation-pipeline update compares inside the server, so two consumers writing the same
    machine cannot interleave a read and a write, and the stored section never goes back in time.
    """
    stage: dict[str, Any] = {
        "identifier": {"$literal": update.identifier},
        "last_event_at": {"$max": [{"$ifNull": ["$last_event_at", update.last_event_at]}, update.last_event_at]},
    }
    for name, section in update.sections.items():
        stage[name] = {
            "$cond": [
                # A section never stored compares below every event time (an event at -1 ms too).
                {"$lt": [{"$ifNull": [f"${name}.at", -math.inf]}, section["at"]]},
                {"$literal": section},
                f"${name}",
            ]
        }
    return UpdateOne({"_id": update.identifier}, [{"$set": stage}], upsert=True)


class CurrentStateRepository:
    def __init__(self, database: Any, collection: str = "current_state") -> None:
        self.collection = database[collection]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("last_event_at", ASCENDING)], name="last_event_at")
        self.collection.create_index([("description.brand", ASCENDING), ("_id", ASCENDING)], name="brand")
        self.collection.create_index([("points_of_interest.names", ASCENDING), ("_id", ASCENDING)], name="poi")

    def apply(self, updates: Iterable[StateUpdate]) -> int:
        """Apply the updates in one bulk write; returns how many machines were written."""
        operations = [upsert_newer_sections(update) for update in updates]
        if not operations:
            return 0
        bulk_upsert(self.collection, operations)
        return len(operations)

    def get(self, identifier: str) -> dict | None:
        return self.collection.find_one({"_id": identifier})

    def count(self, filters: FleetFilter) -> int:
        return self.collection.count_documents(fleet_query(filters))

    def find(self, filters: FleetFilter, skip: int = 0, limit: int = 100) -> list[dict]:
        """Machines matching ``filters``, ordered by identifier (stable across pages)."""
        if limit <= 0:
            return []
        cursor = self.collection.find(fleet_query(filters)).sort("_id", ASCENDING).skip(skip).limit(limit)
        return list(cursor)


def fleet_query(filters: FleetFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if filters.brand is not None:
        query["description.brand"] = filters.brand
    if filters.model is not None:
        query["description.model"] = filters.model
    if filters.poi is not None:
        query["points_of_interest.names"] = filters.poi
    last_event: dict[str, int] = {}
    if filters.updated_since is not None:
        last_event["$gte"] = filters.updated_since
    if filters.stale_before is not None:
        last_event["$lt"] = filters.stale_before
    if last_event:
        query["last_event_at"] = last_event
    if filters.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = filters.bbox
        query["position.longitude"] = {"$gte": min_lon, "$lte": max_lon}
        query["position.latitude"] = {"$gte": min_lat, "$lte": max_lat}
    return query
