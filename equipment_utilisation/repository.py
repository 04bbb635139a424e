"""``UtilisationRepository``: the samples of each machine's local day (``utilisation_traces``) and the
daily rows made from them (``utilisation_days``), with the version each row is at and the version
the topic has (``published_version``), so that a crash between storing and publishing a row is
repaired by the replay (docs/UTILISATION.md, "The consumer").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import ASCENDING, ReplaceOne, UpdateOne

from equipment_utilisation.business import Sample


class UtilisationRepository:
    def __init__(self, database: Any, traces: str = "utilisation_traces", days: str = "utilisation_days") -> None:
        self.traces = database[traces]
        self.days = database[days]

    def ensure_indexes(self) -> None:
        self.days.create_index([("date", ASCENDING), ("machine", ASCENDING)], name="date_machine")
        self.days.create_index([("machine", ASCENDING), ("date", ASCENDING)], name="machine_date")

    # -- traces ---------------------------------------------------------------------------------------

    def load_traces(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Trace documents by id (machine|date): ``model`` and ``samples`` (a list of ``Sample``)."""
        found = {}
        for document in self.traces.find({"_id": {"$in": sorted(set(ids))}}):
            document["samples"] = [Sample.from_list(values) for values in document["samples"]]
            found[document["_id"]] = document
        return found

    def save_traces(self, documents: Iterable[Mapping[str, Any]]) -> int:
        operations = [
            ReplaceOne(
                {"_id": document["_id"]},
                {**document, "samples": [sample.as_list() for sample in document["samples"]]},
                upsert=True,
            )
            for document in documents
        ]
        if operations:
            self.traces.bulk_write(operations, ordered=False)
        return len(operations)

    # -- daily rows -----------------------------------------------------------------------------------

    def load_rows(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {document["_id"]: document for document in self.days.find({"_id": {"$in": sorted(set(ids))}})}

    def save_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store rows (each with its ``version``, ``published_version`` and ``retracted_sites``)."""
        operations = [ReplaceOne({"_id": row["_id"]}, dict(row), upsert=True) for row in rows]
        if operations:
            self.days.bulk_write(operations, ordered=False)
        return len(operations)

    def mark_published(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Record that the topic has these rows' versions (never lowering a newer mark)."""
        operations = [
            UpdateOne(
                {"_id": row["_id"], "published_version": {"$lt": row["version"]}},
                {"$set": {"published_version": row["version"], "retracted_sites": []}},
            )
            for row in rows
        ]
        if operations:
            self.days.bulk_write(operations, ordered=False)

    def rows_between(self, first: str, last: str, machine: str | None = None, site: str | None = None) -> list[dict]:
        """Rows of local dates ``first..last`` (inclusive), by machine and date."""
        query: dict[str, Any] = {"date": {"$gte": first, "$lte": last}}
        if machine is not None:
            query["machine"] = machine
        if site is not None:
            query["site"] = site
        projection = {"published_version": 0, "retracted_sites": 0}
        return list(self.days.find(query, projection).sort([("machine", ASCENDING), ("date", ASCENDING)]))

    def machine_exists(self, machine: str) -> bool:
        return self.days.find_one({"machine": machine}, {"_id": 1}) is not None
