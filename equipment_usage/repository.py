"""Repositories of the usage service.

``UsageRepository`` keeps three collections:

- ``usage_deltas``: the ledger, one document per (identifier, interval end), inserted once (a
  replay's duplicate is ignored); an entry is replaced only when a late reading splits its interval
  (compare-and-swap on the version it replaces);
- ``usage_last_readings``: each machine's reference, replaced only by a newer reading;
- ``usage_daily``: totals per (identifier, local date, cost source), recomputed from the ledger;
- ``usage_repricings``: one report per registry version that re-priced stored usage or was refused
  (partly) by ``USAGE_REPRICE_MAX_AGE_DAYS`` (the ops views read it).

``EquipmentRegistryRepository`` keeps every version of every machine's registry record, one
document per (identifier, last_update), so the rates in effect at any instant can be found.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteMany, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from equipment_usage.business import FIRST, UNCHAINED, Entry, Rates, Reference, RepricingScope
from stream.codecs import TransientError

DUPLICATE_KEY = 11000
# The fields of a registry record that price usage: a record that changes none of them changes no cost.
PRICE_FIELDS = ("hourly_rate", "km_rate", "currency")
CORRECTED = {"corrected_by": {"$type": "number"}}  # the partial index's filter, repeated by its queries
REPRICED = {"repriced_by": {"$type": "string"}}  # likewise
GROUP_FIELDS = {"day": "date", "poi": "source", "identifier": "identifier"}


def _raise_unless_duplicates(exc: BulkWriteError) -> list[dict]:
    """The write errors of ``exc`` when every one is a lost insert race (a duplicate key) and the
    write concern was met; else ``exc`` again. With write concern errors the applied writes may be
    rolled back, so the batch must go back to the loop whole (consumer.is_transient retries it)."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or not errors:
        raise exc
    if any(error.get("code") != DUPLICATE_KEY for error in errors):
        raise exc
    return errors


def reference_from_document(document: dict) -> Reference:
    return Reference(
        identifier=document["identifier"],
        timestamp=document["timestamp"],
        hours=document.get("hours"),
        hours_at=document.get("hours_at"),
        km=document.get("km"),
        km_at=document.get("km_at"),
        pois=tuple(document.get("pois") or ()),
    )


def ledger_document(entry: Entry) -> dict[str, Any]:
    """The stored entry: its deterministic ``_id`` and fields, without a null ``corrected_by`` or
    ``repriced_by`` (only corrected or re-priced entries belong in the partial indexes on them)."""
    document = {"_id": entry.id, **entry.to_dict()}
    for name in ("corrected_by", "repriced_by"):  # partial indexes: absent, not null, when there is none
        if document.get(name, 0) is None:
            del document[name]
    return document


class ConcurrentCorrection(TransientError):
    """A ledger entry changed between reading and replacing it: the batch is retried on fresh state."""


def replace_if_newer(reference: Reference, or_same: bool = False) -> UpdateOne:
    """An atomic upsert that replaces the stored reference only with a strictly newer one (or, with
    ``or_same``, one of the same reading whose carried counters a late reading corrected).

    Each field of ``reference_document(reference)`` (``pois`` as a list) is set to its new value if
    the stored one is older, else kept. Written out field by field: one such upsert is built per
    machine per batch, and building the document first, then the stage from it, cost twice as much
    (docs/PERFORMANCE.md); tests/usage/test_repository.py keeps it equal to the stage built from it."""
    # No stored reference compares below every event time (one at -1 ms too), as in current's upsert.
    newer = {"$lte" if or_same else "$lt": [{"$ifNull": ["$timestamp", -math.inf]}, reference.timestamp]}
    stage = {
        "identifier": {"$cond": [newer, {"$literal": reference.identifier}, "$identifier"]},
        "timestamp": {"$cond": [newer, {"$literal": reference.timestamp}, "$timestamp"]},
        "hours": {"$cond": [newer, {"$literal": reference.hours}, "$hours"]},
        "hours_at": {"$cond": [newer, {"$literal": reference.hours_at}, "$hours_at"]},
        "km": {"$cond": [newer, {"$literal": reference.km}, "$km"]},
        "km_at": {"$cond": [newer, {"$literal": reference.km_at}, "$km_at"]},
        "pois": {"$cond": [newer, {"$literal": list(reference.pois)}, "$pois"]},
    }
    return UpdateOne({"_id": reference.identifier}, [{"$set": stage}], upsert=True)


def repricing_condition(old: Entry) -> dict[str, Any]:
    """The fields a re-pricing was computed from: the interval's start (a late reading changes it)
    and the rates that priced it (another re-pricing changes them). Only counted entries, which
    have a start, are re-priced."""
    assert old.start is not None
    condition: dict[str, Any] = {
        "interval_start": old.start.timestamp,
        "start.hours": old.start.hours,
        "start.hours_at": old.start.hours_at,
        "start.km": old.start.km,
        "start.km_at": old.start.km_at,
    }
    if old.rates is None:
        condition["rates"] = None
    else:
        condition.update(
            {
                "rates.hourly_rate": old.rates.hourly_rate,
                "rates.km_rate": old.rates.km_rate,
                "rates.currency": old.rates.currency,
            }
        )
    return condition


def add_to_daily(daily_id: str, part: dict[str, Any]) -> UpdateOne:
    """An upsert adding ``part`` (the sums of a batch's new entries for one daily total) to the
    total, only if its watermark is older than the first of those entries: applied twice, it
    changes nothing the second time (and the upsert fails with a duplicate key, so the caller can
    tell)."""
    priced = part["priced"]
    cost = {"$add": [{"$ifNull": ["$cost", 0.0]}, part["cost"]]} if priced else {"$ifNull": ["$cost", None]}
    stage = {
        "identifier": {"$literal": part["identifier"]},
        "date": {"$literal": part["date"]},
        "source": {"$literal": part["source"]},
        "hours": {"$add": [{"$ifNull": ["$hours", 0.0]}, part["hours"]]},
        "km": {"$add": [{"$ifNull": ["$km", 0.0]}, part["km"]]},
        "cost": cost,
        "deltas": {"$add": [{"$ifNull": ["$deltas", 0]}, part["deltas"]]},
        "unpriced": {"$add": [{"$ifNull": ["$unpriced", 0]}, part["deltas"] - priced]},
        "currencies": {"$setUnion": [{"$ifNull": ["$currencies", []]}, {"$literal": sorted(part["currencies"])}]},
        "through": {"$literal": part["last"]},
    }
    # identifier and date: the shard key of a sharded usage_daily (docs/SCALING.md), so the upsert
    # targets one shard; the _id says the same, which mongos cannot route on.
    watermark = {
        "_id": daily_id,
        "identifier": part["identifier"],
        "date": part["date"],
        "through": {"$lt": part["first"]},
    }
    return UpdateOne(watermark, [{"$set": stage}], upsert=True)


@dataclass(frozen=True)
class UsageFilter:
    """Filters of the usage search; None means "any". Dates are local ``YYYY-MM-DD``, inclusive."""

    identifier: str | None = None
    poi: str | None = None
    date_from: str | None = None
    date_to: str | None = None


class UsageRepository:
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

    def update_daily(self, appended: Iterable[Entry], recompute: Iterable[tuple[str, str]] = ()) -> int:
        """Bring the daily totals up to date after a batch, reading only the totals it changes.

        ``appended`` are the entries the batch added after their machines' references (the chain
        extended forward): each (identifier, date, source) total adds their parts in one conditional
        upsert, if its watermark ``through`` (the newest interval end it counts) is older than the
        first of them. A total whose watermark is not older (a replay after a crash, or another
        process that got there first) or that predates the watermark is recomputed from the ledger,
        as are the ``recompute`` pairs (those a late reading's correction or a replay touched).
        Recomputing every touched (identifier, date) from the ledger read each machine's whole day
        per batch: on the embedded engine, the batch time grew through each day (docs/PERFORMANCE.md).
        Returns how many totals were written."""
        recompute = set(recompute)
        parts: dict[str, dict[str, Any]] = {}
        for entry in appended:
            if not entry.counted:
                continue
            end = entry.end.timestamp
            for day in entry.days:
                if (entry.identifier, day.date) in recompute:
                    continue
                for share in day.sources:
                    daily_id = f"{entry.identifier}|{day.date}|{share.source}"
                    part = parts.get(daily_id)
                    if part is None:
                        part = parts[daily_id] = {
                            "key": (entry.identifier, day.date),
                            "identifier": entry.identifier,
                            "date": day.date,
                            "source": share.source,
                            "hours": 0.0,
                            "km": 0.0,
                            "cost": 0.0,
                            "deltas": 0,
                            "priced": 0,
                            "currencies": set(),
                            "first": end,
                            "last": end,
                        }
                    part["hours"] += share.hours or 0.0
                    part["km"] += share.km or 0.0
                    if share.cost is not None:
                        part["cost"] += share.cost
                        part["priced"] += 1
                    part["deltas"] += 1
                    if entry.currency:
                        part["currencies"].add(entry.currency)
                    part["first"], part["last"] = min(part["first"], end), max(part["last"], end)
        operations = [add_to_daily(daily_id, part) for daily_id, part in parts.items()]
        keys = [part["key"] for part in parts.values()]
        if operations:
            try:
                self.daily.bulk_write(operations, ordered=False)
            except BulkWriteError as exc:
                # The upsert of a total whose watermark is not behind its new parts met the existing
                # total (duplicate _id): that total is rebuilt from the ledger instead.
                recompute.update(keys[error["index"]] for error in _raise_unless_duplicates(exc))
        return len(operations) + self.recompute_daily(recompute)

    def recompute_daily(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Recompute the totals of the (identifier, date) pairs from the ledger: one aggregation,
        one bulk upsert. Never increments, so recomputing twice gives the same totals."""
        wanted = set(pairs)
        if not wanted:
            return 0
        identifiers = sorted({identifier for identifier, _ in wanted})
        dates = sorted({day for _, day in wanted})
        pipeline = [
            {"$match": {"identifier": {"$in": identifiers}, "dates": {"$in": dates}}},
            {"$unwind": "$days"},
            {"$match": {"days.date": {"$in": dates}}},
            {"$unwind": "$days.sources"},
            {
                "$group": {
                    "_id": {"identifier": "$identifier", "date": "$days.date", "source": "$days.sources.source"},
                    "hours": {"$sum": "$days.sources.hours"},
                    "km": {"$sum": "$days.sources.km"},
                    "cost": {"$sum": "$days.sources.cost"},
                    "deltas": {"$sum": 1},
                    "priced": {"$sum": {"$cond": [{"$eq": [{"$ifNull": ["$days.sources.cost", None]}, None]}, 0, 1]}},
                    "currencies": {"$addToSet": "$currency"},
                    "through": {"$max": "$interval_end"},
                }
            },
        ]
        operations: list[Any] = []
        kept: dict[tuple[str, str], list[str]] = {}
        for group in self.deltas.aggregate(pipeline):
            key = group["_id"]
            if (key["identifier"], key["date"]) not in wanted:
                continue
            document = {
                "identifier": key["identifier"],
                "date": key["date"],
                "source": key["source"],
                "hours": float(group["hours"]),
                "km": float(group["km"]),
                "cost": float(group["cost"]) if group["priced"] else None,
                "deltas": group["deltas"],
                "unpriced": group["deltas"] - group["priced"],
                "currencies": sorted(c for c in group["currencies"] if c),
                "through": group["through"],
            }
            daily_id = f"{key['identifier']}|{key['date']}|{key['source']}"
            shard_key = {"identifier": key["identifier"], "date": key["date"]}  # docs/SCALING.md
            operations.append(ReplaceOne({"_id": daily_id, **shard_key}, document, upsert=True))
            kept.setdefault((key["identifier"], key["date"]), []).append(daily_id)
        written = len(operations)
        # A source whose parts a late reading moved elsewhere has no group left: its total goes.
        operations += [
            DeleteMany({"identifier": identifier, "date": day, "_id": {"$nin": kept.get((identifier, day), [])}})
            for identifier, day in sorted(wanted)
        ]
        if operations:
            try:
                self.daily.bulk_write(operations, ordered=False)
            except BulkWriteError as exc:
                # Two processes upserting the same new total; both computed it from the ledger.
                errors = _raise_unless_duplicates(exc)
                self.daily.bulk_write([operations[error["index"]] for error in errors], ordered=False)
        return written

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


class EquipmentRegistryRepository:
    def __init__(self, database: Any, collection: str = "equipment_registry") -> None:
        self.collection = database[collection]

    def ensure_indexes(self) -> None:
        self.collection.create_index(
            [("identifier", ASCENDING), ("last_update", DESCENDING)], unique=True, name="identifier_last_update"
        )

    def store(self, records: Iterable[dict]) -> int:
        """Store registry records, one version per (identifier, last_update), in one bulk write."""
        operations = [
            ReplaceOne(
                # With the shard key, identifier: a sharded registry's upsert targets one shard.
                {"_id": f"{record['identifier']}|{record['last_update']}", "identifier": record["identifier"]},
                dict(record),
                upsert=True,
            )
            for record in records
        ]
        if not operations:
            return 0
        try:
            self.collection.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = _raise_unless_duplicates(exc)
            self.collection.bulk_write([operations[error["index"]] for error in errors], ordered=False)
        return len(operations)

    def stored_versions(self, keys: Iterable[str]) -> dict[str, dict]:
        """The stored documents of the versions ``keys`` (``identifier|last_update``), by key (one query)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        return {doc["_id"]: doc for doc in self.collection.find({"_id": {"$in": wanted}})}

    def mark_repriced(self, records: Iterable[dict]) -> int:
        """Flag versions whose re-pricing is complete (written, reported, published), each only if
        it still has the rates of ``records`` (a newer record of the key clears the flag by
        replacing the document; ``store`` writes none). One bulk write."""
        operations = [
            UpdateOne(
                {
                    "_id": f"{record['identifier']}|{record['last_update']}",
                    "identifier": record["identifier"],  # the shard key (docs/SCALING.md)
                    **{name: record.get(name) for name in PRICE_FIELDS},
                },
                {"$set": {"repriced": True}},
            )
            for record in records
        ]
        if not operations:
            return 0
        return self.collection.bulk_write(operations).matched_count

    def rates(self, identifiers: Iterable[str]) -> dict[str, list[Rates]]:
        """Every stored version of each machine's rates (one query)."""
        ids = sorted(set(identifiers))
        versions: dict[str, list[Rates]] = {}
        if not ids:
            return versions
        for doc in self.collection.find({"identifier": {"$in": ids}}):
            versions.setdefault(doc["identifier"], []).append(
                Rates(doc["last_update"], doc.get("hourly_rate"), doc.get("km_rate"), doc.get("currency"))
            )
        return versions

    def newest(self, identifiers: Iterable[str]) -> dict[str, dict]:
        """The newest record of each machine in ``identifiers`` that has one (one query)."""
        ids = sorted(set(identifiers))
        if not ids:
            return {}
        newest: dict[str, dict] = {}
        cursor = self.collection.find({"identifier": {"$in": ids}}).sort(
            [("identifier", ASCENDING), ("last_update", DESCENDING)]
        )
        for doc in cursor:
            newest.setdefault(doc["identifier"], doc)
        return newest

    def get(self, identifier: str) -> dict | None:
        """The newest record of a machine (newest ``last_update`` wins)."""
        return self.collection.find_one({"identifier": identifier}, sort=[("last_update", DESCENDING)])
