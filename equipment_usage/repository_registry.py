"""``EquipmentRegistryRepository``: every version of every machine's registry record, one document per
(identifier, last_update), so the rates in effect at any instant can be found.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from equipment_usage.business_ledger import Rates
from equipment_usage.repository_documents import PRICE_FIELDS, _raise_unless_duplicates


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
