"""MongoDB state of the connectors: the dedup keys of published readings, and a read-only index of
the equipment registry by serial number (the registry is kept by equipment_usage, collection
``equipment_registry``: one document per version, ``identifier`` and ``serial_number``)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, InsertOne
from pymongo.errors import BulkWriteError


class DedupRepository:
    """One document per published reading, ``_id`` = its dedup key (maker|PIN or id|element|time).

    Keys are written only after the broker acknowledged the messages carrying them: a crash in
    between publishes those readings again on the next poll (at least once, docs/CONNECTORS.md).
    """

    def __init__(self, database: Any, collection: str = "connector_dedup") -> None:
        self.collection = database[collection]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("seen_at", ASCENDING)], name="seen_at")

    def seen(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        return {doc["_id"] for doc in self.collection.find({"_id": {"$in": wanted}}, {"_id": 1})}

    def remember(self, keys: Iterable[str], now_ms: int | None = None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        operations = [InsertOne({"_id": key, "seen_at": now_ms}) for key in sorted(set(keys))]
        if not operations:
            return 0
        try:
            return self.collection.bulk_write(operations, ordered=False).inserted_count
        except BulkWriteError as error:
            others = [e for e in error.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise
            return error.details.get("nInserted", 0)


class RegistryIndex:
    """Registry identifiers by serial number (a PIN is matched as a serial number too)."""

    def __init__(self, database: Any, collection: str = "equipment_registry") -> None:
        self.collection = database[collection]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("serial_number", ASCENDING)], name="serial_number")

    def identifiers(self, serials: Iterable[str]) -> dict[str, str]:
        wanted = sorted({serial for serial in serials if serial})
        if not wanted:
            return {}
        found: dict[str, tuple[int, str]] = {}
        for doc in self.collection.find(
            {"serial_number": {"$in": wanted}}, {"serial_number": 1, "identifier": 1, "last_update": 1}
        ):
            newest = found.get(doc["serial_number"])
            version = doc.get("last_update") or 0
            if newest is None or version > newest[0]:
                found[doc["serial_number"]] = (version, doc["identifier"])
        return {serial: identifier for serial, (_, identifier) in found.items()}
