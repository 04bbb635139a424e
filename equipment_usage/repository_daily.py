"""``DailyTotals``: the ``usage_daily`` totals of ``UsageRepository``, brought up to date after each batch
and recomputed from the ledger where a correction changed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import DeleteMany, ReplaceOne
from pymongo.errors import BulkWriteError

from equipment_usage.business_ledger import Entry
from equipment_usage.repository_documents import _raise_unless_duplicates, add_to_daily


class DailyTotals:
    """The daily totals' part of ``UsageRepository`` (a mixin: it uses the repository's collections)."""

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
