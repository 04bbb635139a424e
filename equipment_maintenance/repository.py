"""``MaintenanceEventRepository``: which maintenance events were emitted, and the highest engine
hours seen per machine (MongoDB).

An emission's ``_id`` is its event key (machine|template|cycle|status), so the collection's unique
key makes "at most once" a property of the store, whatever process or replay tries again. An
emission is claimed ``pending`` before it is published and marked ``published`` after delivery
(docs/MAINTENANCE.md, "Emitted once"): a kill in between leaves it pending, and the next batch of
the machine (a replay of the uncommitted one, or the next reading) publishes it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from stream.mongo import DUPLICATE_KEY, bulk_upsert

PENDING, PUBLISHED = "pending", "published"


class MaintenanceEventRepository:
    def __init__(
        self,
        database: Any,
        emissions_collection: str = "maintenance_emissions",
        high_water_collection: str = "maintenance_high_water",
    ) -> None:
        self.emissions = database[emissions_collection]
        self.high_water = database[high_water_collection]

    def ensure_indexes(self) -> None:
        self.emissions.create_index([("machine", ASCENDING), ("state", ASCENDING)], name="machine_state")

    def claim(self, events: Iterable[dict]) -> int:
        """Insert each event as pending unless its key is stored already; returns how many were new."""
        documents = [
            {"_id": event["event_id"], "machine": event["machine"], "state": PENDING, "event": event}
            for event in events
        ]
        if not documents:
            return 0
        try:
            return len(self.emissions.insert_many(documents, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return exc.details.get("nInserted", len(documents) - len(errors))

    def pending(self, machines: Iterable[str]) -> list[dict]:
        """The claimed, not yet delivered events of ``machines``, in key order."""
        query = {"machine": {"$in": sorted(set(machines))}, "state": PENDING}
        return [document["event"] for document in self.emissions.find(query).sort("_id", ASCENDING)]

    def mark_published(self, events: Iterable[dict]) -> int:
        """Mark ``events`` published: one update per machine, so each write carries the shard key
        (``machine``, stream/sharding.py)."""
        by_machine: dict[str, list[str]] = {}
        for event in events:
            by_machine.setdefault(event["machine"], []).append(event["event_id"])
        if not by_machine:
            return 0
        operations = [
            UpdateMany({"machine": machine, "_id": {"$in": ids}}, {"$set": {"state": PUBLISHED}})
            for machine, ids in by_machine.items()
        ]
        return self.emissions.bulk_write(operations, ordered=False).modified_count

    def emitted(self, machine: str) -> list[dict]:
        """Every emission of ``machine`` (pending or published), in key order."""
        return list(self.emissions.find({"machine": machine}).sort("_id", ASCENDING))

    def highest(self, machines: Iterable[str]) -> dict[str, float]:
        """The highest engine hours seen per machine (machines never seen are absent)."""
        query = {"_id": {"$in": sorted(set(machines))}}
        return {document["_id"]: document["hours"] for document in self.high_water.find(query)}

    def raise_highest(self, hours: dict[str, float]) -> None:
        """Raise each machine's mark to ``hours`` if higher (``$max``: never lowered, replays are harmless)."""
        operations = [
            UpdateOne({"_id": machine}, {"$max": {"hours": value}}, upsert=True) for machine, value in hours.items()
        ]
        if operations:
            bulk_upsert(self.high_water, operations)


class MaintenanceReadings:
    """What the plans read of other apps' stores: the current state's engine hours and usage's daily
    totals. Maintenance's own reader of those collections (as rentals' ``RentalUsageRepository``
    reads the usage ledger), so that the current-state and usage repositories stay as they are."""

    def __init__(
        self, database: Any, states_collection: str = "current_state", daily_collection: str = "usage_daily"
    ) -> None:
        self.states = database[states_collection]
        self.daily = database[daily_collection]

    def current_states(self, identifiers: Iterable[str]) -> dict[str, dict]:
        """The stored state of each of ``identifiers`` that has one, by identifier (one query)."""
        return {document["_id"]: document for document in self.states.find({"_id": {"$in": sorted(set(identifiers))}})}

    def daily_hours(self, identifiers: list[str] | None, date_from: str, date_to: str) -> dict[str, float]:
        """Engine hours per machine over the local dates ``date_from``..``date_to`` (inclusive), summed
        from usage's daily totals (every source); ``identifiers`` None means every machine."""
        match: dict[str, Any] = {"date": {"$gte": date_from, "$lte": date_to}}
        if identifiers is not None:
            match["identifier"] = {"$in": sorted(set(identifiers))}
        pipeline = [{"$match": match}, {"$group": {"_id": "$identifier", "hours": {"$sum": "$hours"}}}]
        return {group["_id"]: float(group["hours"] or 0.0) for group in self.daily.aggregate(pipeline)}
