"""Repositories of the usage service.

``UsageRepository`` keeps three collections:

- ``usage_deltas``: the ledger, one document per (identifier, interval end), inserted once (a
  replay's duplicate is ignored); an entry is replaced only when a late reading splits its interval
  (compare-and-swap on the version it replaces);
- ``usage_last_readings``: each machine's reference, replaced only by a newer reading;
- ``usage_daily``: totals per (identifier, local date, cost source), recomputed from the ledger;
- ``usage_repricings``: one report per registry version that re-priced stored usage or was refused
  (partly) by ``USAGE_REPRICE_MAX_AGE_DAYS`` (the ops views read it).

Its daily totals are ``repository_daily``'s, its API reads ``repository_queries``'s, its documents
``repository_documents``'s; the registry's versions are ``repository_registry``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, InsertOne, ReplaceOne
from pymongo.errors import BulkWriteError

from equipment_usage.business_ledger import FIRST, UNCHAINED, Entry, Reference
from equipment_usage.business_pricing import RepricingScope
from equipment_usage.repository_daily import DailyTotals
from equipment_usage.repository_documents import (
    CORRECTED,
    REPRICED,
    ConcurrentCorrection,
    _raise_unless_duplicates,
    ledger_document,
    reference_from_document,
    replace_if_newer,
    repricing_condition,
)
from equipment_usage.repository_queries import UsageQueries


class UsageRepository(DailyTotals, UsageQueries):
    def __init__(
        self,
        database: Any,
        collection: str = "usage_deltas",
        last_readings_collection: str = "usage_last_readings",
        daily_collection: str = "usage_daily",
        repricings_collection: str = "usage_repricings",
    ) -> None:
        self.deltas = database[collection]
        self.last_readings = database[last_readings_collection]
        self.daily = database[daily_collection]
        self.repricings = database[repricings_collection]

    def ensure_indexes(self) -> None:
        # An entry's _id is entry_id(identifier, interval_end): the key already makes a replay a
        # duplicate, so the (identifier, interval_end) index needs no uniqueness of its own (a store
        # made before loses the unique one). With interval_start as its third key, the late-reading
        # lookup of ``spanning_entries`` is decided in the index: only the spanning entries are read.
        if "identifier_interval_end" in self.deltas.index_information():
            self.deltas.drop_index("identifier_interval_end")
        self.deltas.create_index(
            [("identifier", ASCENDING), ("interval_end", ASCENDING), ("interval_start", ASCENDING)],
            name="identifier_interval_end_start",
        )
        self.deltas.create_index([("identifier", ASCENDING), ("dates", ASCENDING)], name="identifier_dates")
        self.deltas.create_index(
            [("identifier", ASCENDING), ("interval_start", ASCENDING)], name="identifier_interval_start"
        )
        # Only the few corrected entries: a partial index (a sparse one indexed every entry, whose
        # corrected_by was stored as null). Entries are now stored without a null corrected_by.
        corrected = self.deltas.index_information().get("identifier_corrected_by")
        if corrected is not None and "partialFilterExpression" not in corrected:
            self.deltas.drop_index("identifier_corrected_by")
        self.deltas.create_index(
            [("identifier", ASCENDING), ("corrected_by", ASCENDING)],
            name="identifier_corrected_by",
            partialFilterExpression=CORRECTED,
        )
        repriced = self.deltas.index_information().get("identifier_repriced_by")
        if repriced is not None and "partialFilterExpression" not in repriced:
            self.deltas.drop_index("identifier_repriced_by")
        self.deltas.create_index(
            [("identifier", ASCENDING), ("repriced_by", ASCENDING)],
            name="identifier_repriced_by",
            partialFilterExpression=REPRICED,
        )
        self.repricings.create_index([("logged_at", DESCENDING)], name="logged_at")
        self.daily.create_index([("identifier", ASCENDING), ("date", ASCENDING)], name="identifier_date")
        self.daily.create_index([("source", ASCENDING), ("date", ASCENDING)], name="source_date")
        self.daily.create_index([("date", ASCENDING)], name="date")

    # -- the consumer's writes, one round trip each ------------------------------------------------

    def references(self, identifiers: Iterable[str]) -> dict[str, Reference]:
        """The stored reference of each machine in ``identifiers`` (one query)."""
        ids = sorted(set(identifiers))
        if not ids:
            return {}
        return {doc["_id"]: reference_from_document(doc) for doc in self.last_readings.find({"_id": {"$in": ids}})}

    def behind_entries(self, wanted: dict[str, list[int]]) -> dict[str, Entry]:
        """For readings at or behind their machine's reference (event times by identifier), in one
        query: their own entries, the entries that start at them (their successors, if the chain
        already runs through them) and the entries a correction by them replaced. By entry id.

        Every clause names its machine (an own entry is ``interval_end`` = its time: the same
        document as its ``_id``), and the machines are repeated outside the ``$or``: a sharded
        cluster routes it to their shards only, and the embedded engine, which cannot plan an
        ``$or``, reads those machines' entries instead of the whole ledger."""
        clauses: list[dict[str, Any]] = []
        for identifier, times in sorted(wanted.items()):
            if times:
                at = sorted(set(times))
                clauses.append({"identifier": identifier, "interval_end": {"$in": at}})
                clauses.append({"identifier": identifier, "interval_start": {"$in": at}})
                clauses.append({"identifier": identifier, "corrected_by": {"$in": at, **CORRECTED["corrected_by"]}})
        if not clauses:
            return {}
        machines = sorted(identifier for identifier, times in wanted.items() if times)
        query = {"identifier": {"$in": machines}, "$or": clauses}
        return {doc["_id"]: Entry.from_dict(doc) for doc in self.deltas.find(query)}

    def spanning_entries(self, wanted: dict[str, list[int]]) -> list[Entry]:
        """The chained entries whose interval spans each late reading (start < t < end), and each
        machine's first entry when it is after a late reading, in one query. Each clause walks the
        (identifier, interval_end, interval_start) index from t and is decided there (interval_start
        < t, or null), so only the entries that span t are fetched. The machines are repeated outside
        the ``$or``, as in ``behind_entries``."""
        clauses: list[dict[str, Any]] = []
        for identifier, times in sorted(wanted.items()):
            for ts in sorted(set(times)):
                chained = {"identifier": identifier, "interval_end": {"$gt": ts}, "flags": {"$nin": list(UNCHAINED)}}
                clauses.append({**chained, "interval_start": {"$lt": ts}})
                clauses.append({**chained, "interval_start": None, "flags": FIRST})
        if not clauses:
            return []
        machines = sorted(identifier for identifier, times in wanted.items() if times)
        query = {"identifier": {"$in": machines}, "$or": clauses}
        found = {doc["_id"]: Entry.from_dict(doc) for doc in self.deltas.find(query)}
        return sorted(found.values(), key=lambda entry: (entry.identifier, entry.end.timestamp))

    def entries_after(self, identifier: str, timestamp: int, limit: int) -> list[Entry]:
        """A machine's next chained entries after ``timestamp``, oldest first (an index range)."""
        query = {"identifier": identifier, "interval_end": {"$gt": timestamp}, "flags": {"$nin": list(UNCHAINED)}}
        cursor = self.deltas.find(query).sort("interval_end", ASCENDING).limit(limit)
        return [Entry.from_dict(doc) for doc in cursor]

    def replace_entries(self, replacements: Iterable[tuple[Entry, Entry]]) -> int:
        """Replace stored entries by their corrected versions, each only if the stored one is still
        the version it was computed from (compare-and-swap on its start), in the order given, in one
        ordered bulk write. Raises ``ConcurrentCorrection`` if another writer got there first."""
        operations = []
        for old, new in replacements:
            if old.start is None:
                condition: dict[str, Any] = {"start": None}
            else:
                condition = {
                    "interval_start": old.start.timestamp,
                    "start.hours": old.start.hours,
                    "start.hours_at": old.start.hours_at,
                    "start.km": old.start.km,
                    "start.km_at": old.start.km_at,
                }
            # The shard key (identifier, interval_end) in the filter: a sharded ledger targets one
            # shard (docs/SCALING.md); the _id says the same, which mongos cannot route on.
            key = {"_id": old.id, "identifier": old.identifier, "interval_end": old.end.timestamp}
            operations.append(ReplaceOne({**key, **condition}, ledger_document(new)))
        if not operations:
            return 0
        result = self.deltas.bulk_write(operations, ordered=True)
        if result.matched_count != len(operations):
            raise ConcurrentCorrection(f"{len(operations) - result.matched_count} ledger entries changed meanwhile")
        return len(operations)

    # -- re-pricing (equipment_usage/repricing.py) -------------------------------------------------

    def repricing_candidates(
        self,
        scopes: Iterable[RepricingScope],
        repriced_by: dict[str, list[str]] | None = None,
        entries: Iterable[tuple[str, int]] = (),
    ) -> dict[str, Entry]:
        """In one query: the counted entries whose interval starts in each scope (a range of the
        (identifier, interval_start) index), the entries re-priced by the versions ``repriced_by``
        (per identifier, keys ``identifier|last_update``) and the ``entries`` (identifier, interval
        end). Every
        clause is per identifier, so a sharded ledger is asked only on its machines' shards. By id."""
        clauses: list[dict[str, Any]] = []
        for scope in scopes:
            if not scope.empty:
                starts: dict[str, int] = {"$gte": scope.start}
                if scope.end is not None:
                    starts["$lt"] = scope.end
                clauses.append({"identifier": scope.identifier, "interval_start": starts, "counted": True})
        for identifier, keys in sorted((repriced_by or {}).items()):
            clauses.append(
                {"identifier": identifier, "repriced_by": {"$in": sorted(set(keys)), **REPRICED["repriced_by"]}}
            )
        ends: dict[str, set[int]] = {}
        for identifier, end in entries:
            ends.setdefault(identifier, set()).add(end)
        for identifier, times in sorted(ends.items()):
            clauses.append({"identifier": identifier, "interval_end": {"$in": sorted(times)}})
        if not clauses:
            return {}
        # The machines outside the $or too: the embedded engine plans by them (as behind_entries).
        query = {"identifier": {"$in": sorted({clause["identifier"] for clause in clauses})}, "$or": clauses}
        return {doc["_id"]: Entry.from_dict(doc) for doc in self.deltas.find(query)}

    def write_repriced(self, replacements: Iterable[tuple[Entry, Entry]]) -> int:
        """Replace stored entries by their re-priced versions, each only if the stored one still has
        the start and the rates it was re-priced from (compare-and-swap: a late reading's correction
        or another re-pricing got there first otherwise), in one bulk write. Returns how many were
        replaced; the caller re-reads and retries the others."""
        operations = [
            # the shard key (identifier, interval_end) too, as in replace_entries (docs/SCALING.md);
            # the replacement keeps the stored _id
            ReplaceOne(
                {
                    "_id": old.id,
                    "identifier": old.identifier,
                    "interval_end": old.end.timestamp,
                    **repricing_condition(old),
                },
                ledger_document(new),
            )
            for old, new in replacements
        ]
        if not operations:
            return 0
        return self.deltas.bulk_write(operations).matched_count

    def record_repricings(self, reports: dict[str, dict[str, Any]]) -> int:
        """Write one report per registry version, by its key (``identifier|last_update``): a replay
        rewrites the same one. (Two processes upserting one key: the server retries the loser's
        upsert, an equality on ``_id``, by itself.)"""
        operations = [ReplaceOne({"_id": key}, report, upsert=True) for key, report in sorted(reports.items())]
        if not operations:
            return 0
        self.repricings.bulk_write(operations)
        return len(operations)

    def find_repricings(self, limit: int) -> list[dict]:
        """The ``limit`` newest re-pricing reports, newest first."""
        return list(self.repricings.find().sort("logged_at", DESCENDING).limit(limit))

    def insert_entries(self, entries: Iterable[Entry]) -> int:
        """Insert ledger entries; those already stored (a replay) are left alone. Returns how many
        were new."""
        operations = [InsertOne(ledger_document(entry)) for entry in entries]
        if not operations:
            return 0
        try:
            return self.deltas.bulk_write(operations, ordered=False).inserted_count
        except BulkWriteError as exc:
            return len(operations) - len(_raise_unless_duplicates(exc))

    def save_references(self, references: Iterable[Reference], corrected: Iterable[Reference] = ()) -> int:
        """Save newer references, and ``corrected`` ones (the same reading, its carried counters
        corrected by a late reading), in one bulk write."""
        operations = [replace_if_newer(reference) for reference in references]
        operations += [replace_if_newer(reference, or_same=True) for reference in corrected]
        if not operations:
            return 0
        try:
            self.last_readings.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            # Two processes inserting the same new machine: the loser's conditional update now
            # applies to the winner's document.
            errors = _raise_unless_duplicates(exc)
            self.last_readings.bulk_write([operations[error["index"]] for error in errors], ordered=False)
        return len(operations)
