"""What the usage repositories store and how they write it: documents, conditional writes, bulk
errors. Shared by ``repository``, ``repository_daily`` and ``repository_registry``.
"""

from __future__ import annotations

import math
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from equipment_usage.business_ledger import Entry, Reference
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
