"""``PositionRepository``: every position of every machine, one document per (identifier, timestamp)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure

from equipment_history.business import MS_PER_DAY, Position, event_time
from stream.mongo import DUPLICATE_KEY, bulk_upsert

INDEX_OPTIONS_CONFLICT = 85  # an index of that name exists with other options (a concurrent start)
INDEX_NOT_FOUND = 27
TTL_INDEX = "event_time_ttl"
EVENT_TIME_INDEX = "event_time"  # the same key without expiry: embedded engines, or keep forever
# MongoDB refuses a larger expireAfterSeconds (a signed 32-bit int): about 24,855 days.
MONGODB_MAX_TTL_SECONDS = 2_147_483_647
MAX_RETENTION_DAYS = MONGODB_MAX_TTL_SECONDS // (MS_PER_DAY // 1000)
KEEP_FOREVER = 0  # retention_days = 0: nothing expires
TTL_EXPIRY = "ttl_index"  # the server's TTL monitor deletes expired positions
SWEEP_EXPIRY = "sweep"  # ``delete_expired`` does, called periodically (``manage.py expire_positions``)
_PROJECTION = {"_id": 0, "event_time": 0}
LATEST_FIELDS = (
    "identifier",
    "timestamp",
    "event_time",
    "latitude",
    "longitude",
    "address",
    "points_of_interest",
    "base",
)


def position_id(identifier: str, timestamp: int) -> str:
    """The deterministic ``_id`` of a position: a replay of it is a key lookup, not an index search."""
    return f"{identifier}|{timestamp}"


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


def advance_latest(document: dict[str, Any]) -> UpdateOne:
    """An atomic upsert of a machine's newest position that only ever moves forward in event time.

    The comparison runs inside the server (an aggregation-pipeline update), so two history consumers
    writing the same machine cannot put an older position back.
    """
    newer = {"$lt": [{"$ifNull": ["$timestamp", -math.inf]}, document["timestamp"]]}
    return UpdateOne(
        {"_id": document["identifier"]},
        [{"$set": {name: {"$cond": [newer, {"$literal": document.get(name)}, f"${name}"]} for name in LATEST_FIELDS}}],
        upsert=True,
    )


def default_expiry(database: Any) -> str:
    """``TTL_EXPIRY`` on a real MongoDB; ``SWEEP_EXPIRY`` on the embedded engines (litemongo,
    mongomock-ng), whose TTL emulation reads every stored document on every insert and find."""
    from pymongo.database import Database

    return TTL_EXPIRY if isinstance(database, Database) else SWEEP_EXPIRY


class PositionRepository:
    def __init__(
        self,
        database: Any,
        collection: str = "positions",
        retention_days: int = 30,
        latest_collection: str | None = None,
        expiry: str | None = None,
    ) -> None:
        """``retention_days``: how long positions stay (``KEEP_FOREVER``: always; the system check
        ``history.E001`` refuses what MongoDB would). ``expiry``: ``TTL_EXPIRY`` or ``SWEEP_EXPIRY``;
        None picks by engine (``default_expiry``)."""
        if expiry not in (None, TTL_EXPIRY, SWEEP_EXPIRY):
            raise ValueError(f"expiry must be {TTL_EXPIRY!r}, {SWEEP_EXPIRY!r} or None, got {expiry!r}")
        self.database = database
        self.collection = database[collection]
        # Each machine's newest position, kept beside the positions: "the latest position of each
        # machine in a window" then reads one document per machine instead of sorting every
        # position of the window (today's, for locations/today: seconds on the embedded store).
        self.latest_positions = database[latest_collection or f"{collection}_latest"]
        self.retention_days = retention_days
        self.expiry = expiry or default_expiry(database)

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * MS_PER_DAY // 1000

    @property
    def uses_ttl_index(self) -> bool:
        return self.expiry == TTL_EXPIRY and self.retention_days != KEEP_FOREVER

    def ensure_indexes(self) -> None:
        # The unique key makes a replayed or duplicated message a no-op even for positions stored
        # before ``_id``s were deterministic (ObjectIds); it also serves the range queries of one
        # machine, sorted by time.
        self.collection.create_index(
            [("identifier", ASCENDING), ("timestamp", ASCENDING)], name="identifier_timestamp", unique=True
        )
        # One index on event_time, with or without expiry, on the positions and on each machine's
        # newest position (which leaves with the position itself, so it never names one that is
        # gone). MongoDB allows only one index per key pattern, so the other one goes first.
        for collection in (self.collection, self.latest_positions):
            if self.uses_ttl_index:
                self._drop_index(collection, EVENT_TIME_INDEX)
                self._ensure_ttl_index(collection)
            else:
                self._drop_index(collection, TTL_INDEX)
                collection.create_index([("event_time", ASCENDING)], name=EVENT_TIME_INDEX)
        self.latest_positions.create_index([("timestamp", ASCENDING)], name="timestamp")
        if self.latest_positions.find_one({}, {"_id": 1}) is None and self.collection.find_one({}, {"_id": 1}):
            # Positions stored before the newest ones were kept: derive them once.
            self._advance_latest(self.collection.find())

    @staticmethod
    def _drop_index(collection: Any, name: str) -> None:
        if name not in collection.index_information():
            return
        try:
            collection.drop_index(name)
        except OperationFailure as exc:  # another process dropped it first
            if exc.code not in (INDEX_NOT_FOUND, None):
                raise

    def _ensure_ttl_index(self, collection: Any) -> None:
        """Create the TTL index, or change its ``expireAfterSeconds`` in place with ``collMod`` (no
        rebuild). Safe when several processes start at once: collMod is idempotent, and a create that
        lost the race to one with another retention (IndexOptionsConflict, a rolling deploy) is
        followed by a collMod, so the last process started sets the retention."""
        existing = collection.index_information().get(TTL_INDEX)
        if existing is not None:
            if existing.get("expireAfterSeconds") != self.retention_seconds:
                self._change_ttl(collection)
            return
        try:
            collection.create_index(
                [("event_time", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=self.retention_seconds
            )
        except OperationFailure as exc:
            if exc.code != INDEX_OPTIONS_CONFLICT:
                raise
            self._change_ttl(collection)

    def _change_ttl(self, collection: Any) -> None:
        command = {
            "collMod": collection.name,
            "index": {"name": TTL_INDEX, "expireAfterSeconds": self.retention_seconds},
        }
        try:
            self.database.command(command)
        except (NotImplementedError, OperationFailure) as exc:
            if isinstance(exc, OperationFailure) and exc.code not in (59, 115, None):
                raise  # 59 CommandNotFound, 115 CommandNotSupported: an engine without collMod
            # Such an engine cannot change the option in place: drop and rebuild (a one-off cost).
            self._drop_index(collection, TTL_INDEX)
            with contextlib.suppress(OperationFailure):  # another process rebuilt it first
                collection.create_index(
                    [("event_time", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=self.retention_seconds
                )

    def delete_expired(self, now_ms: int) -> int:
        """Delete the positions older than the retention, and the newest positions that are (what the
        TTL monitor does on MongoDB); returns how many positions went. Nothing expires with
        ``KEEP_FOREVER``."""
        if self.retention_days == KEEP_FOREVER:
            return 0
        expired = {"event_time": {"$lt": event_time(now_ms - self.retention_days * MS_PER_DAY)}}
        deleted = self.collection.delete_many(expired).deleted_count
        self.latest_positions.delete_many(expired)  # a newest position leaves with the position itself
        return deleted

    def insert(self, positions: Iterable[Position]) -> int:
        """Insert in one unordered bulk write; returns how many were new (duplicates are skipped)."""
        return self.insert_documents([position_document(position) for position in positions])

    def insert_documents(self, documents: list[dict[str, Any]]) -> int:
        """``insert`` for documents already in the stored shape (``business.position_documents``, the
        consumer's path); same bulk write, same answer. Each gets its deterministic ``_id``."""
        if not documents:
            return 0
        for document in documents:
            document["_id"] = f"{document['identifier']}|{document['timestamp']}"  # position_id, inlined
        try:
            inserted = len(self.collection.insert_many(documents, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            # Unordered: every non-duplicate was inserted; a duplicate is a replay and changes nothing.
            details = exc.details
            errors = details.get("writeErrors", [])
            if details.get("writeConcernErrors") or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            inserted = details.get("nInserted", 0)
        # After the positions: a failure here leaves the batch uncommitted, and its replay (the
        # inserts then duplicates) advances the newest positions again.
        self._advance_latest(documents)
        return inserted

    def _advance_latest(self, documents: Iterable[dict[str, Any]]) -> None:
        newest: dict[str, dict[str, Any]] = {}
        for document in documents:
            known = newest.get(document["identifier"])
            if known is None or document["timestamp"] > known["timestamp"]:
                newest[document["identifier"]] = document
        if not newest:
            return
        operations = [advance_latest(document) for document in newest.values()]
        bulk_upsert(self.latest_positions, operations)

    def newest_timestamps(self, identifiers: Iterable[str]) -> dict[str, int]:
        """The event time of each machine's newest stored position (machines without one are left out)."""
        ids = list(identifiers)
        return {doc["_id"]: doc["timestamp"] for doc in self.latest_positions.find({"_id": {"$in": ids}})}

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

    def _latest_documents(self, start: int, end: int, poi: str | None) -> list[dict]:
        """The newest position of each machine in ``[start, end)``, ordered by identifier.

        A machine whose newest position overall falls in the window has it as its answer; one whose
        newest is later (the window lies in its past) is asked for its newest in the window, from the
        unique (identifier, timestamp) index; one whose newest is earlier has nothing in the window.
        """
        found = []
        for newest in self.latest_positions.find({"timestamp": {"$gte": start}}):
            if newest["timestamp"] < end:
                found.append(newest)
                continue
            cursor = (
                self.collection.find({"identifier": newest["identifier"], "timestamp": {"$gte": start, "$lt": end}})
                .sort("timestamp", DESCENDING)
                .limit(1)
            )
            found.extend(cursor)
        if poi is not None:
            # Filtered after picking the latest: "machines that are at this site now", not "the last
            # time each machine was at this site".
            found = [document for document in found if poi in (document.get("points_of_interest") or ())]
        return sorted(found, key=lambda document: document["identifier"])

    def count_latest(self, start: int, end: int, poi: str | None = None) -> int:
        return len(self._latest_documents(start, end, poi))

    def latest(self, start: int, end: int, poi: str | None = None, skip: int = 0, limit: int = 100) -> list[Position]:
        """The newest position of each machine in ``[start, end)``, ordered by identifier."""
        page = self._latest_documents(start, end, poi)[skip : skip + limit]
        return [position_from_document(document) for document in page]
