"""``UtilisationRepository``: the samples of each machine's local day (``utilisation_traces``) and the
daily rows made from them (``utilisation_days``, each at the version the topic has), and the month
rollup of the rows the API reads (``utilisation_months``); docs/UTILISATION.md, "The consumer".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import ASCENDING, ReplaceOne, UpdateOne

from equipment_utilisation.business import Sample

# A row of the month rollup: its figures in this order (``packed`` / ``unpacked``).
PACKED = ("site", "machine_class", "zone", "engine_hours", "available_hours", "fuel_l")
PACKED_HOURS = ("working", "idle", "stationary", "off", "no_data")
PACKED_RUNS = ("3_6", "6_9", "over_9")


def packed(row: Mapping[str, Any]) -> list:
    return [
        *(row[name] for name in PACKED),
        *(row["hours"][name] for name in PACKED_HOURS),
        *(row["idle_runs"][name] for name in PACKED_RUNS),
    ]


def unpacked(machine: str, day: str, values: list) -> dict[str, Any]:
    plain, rest = values[: len(PACKED)], values[len(PACKED) :]
    hours, runs = rest[: len(PACKED_HOURS)], rest[len(PACKED_HOURS) :]
    return {
        "machine": machine,
        "date": day,
        **dict(zip(PACKED, plain, strict=True)),
        "hours": dict(zip(PACKED_HOURS, hours, strict=True)),
        "idle_runs": dict(zip(PACKED_RUNS, runs, strict=True)),
    }


def packed_samples(samples: Iterable[Sample]) -> str:
    """A day's samples as one JSON text. One string, not a list of lists: the embedded engine copies
    every element of a list on each read and write, which made a batch's cost grow with the length
    of the machines' days (471 msg/s by the end of a day, 2,848 at its start; docs/UTILISATION.md)."""
    return json.dumps([sample.as_list() for sample in samples], separators=(",", ":"))


class UtilisationRepository:
    def __init__(
        self,
        database: Any,
        traces: str = "utilisation_traces",
        days: str = "utilisation_days",
        months: str = "utilisation_months",
    ) -> None:
        self.traces = database[traces]
        self.days = database[days]
        self.months = database[months]

    def ensure_indexes(self) -> None:
        # Rows are read by _id (the batch's days) and by machine (``machine_exists``); ranges of
        # dates come from the month rollup.
        self.days.create_index([("machine", ASCENDING), ("date", ASCENDING)], name="machine_date")
        self.months.create_index([("month", ASCENDING), ("machine", ASCENDING)], name="month_machine")

    # -- traces ---------------------------------------------------------------------------------------

    def load_traces(self, ids: Iterable[str], full: bool = True) -> dict[str, dict[str, Any]]:
        """Trace documents by id (machine|date): ``model``, ``zone`` and ``samples`` (a list of
        ``Sample``). Not ``full``: only the day's first and last sample as its ``samples`` (all a
        neighbouring day reads of it), without reading the rest."""
        found = {}
        query = {"_id": {"$in": sorted(set(ids))}}
        for document in self.traces.find(query) if full else self.traces.find(query, {"samples": 0}):
            if full:
                document["samples"] = [Sample.from_list(values) for values in json.loads(document["samples"])]
            else:
                first, last = Sample.from_list(document["first"]), Sample.from_list(document["last"])
                document["samples"] = [first] if first.t == last.t else [first, last]
                document["partial"] = True
            found[document["_id"]] = document
        return found

    def save_traces(self, documents: Iterable[Mapping[str, Any]]) -> int:
        operations = []
        for document in documents:
            samples = document["samples"]
            stored = {key: value for key, value in document.items() if key != "partial"}
            stored.update(samples=packed_samples(samples), first=samples[0].as_list(), last=samples[-1].as_list())
            operations.append(ReplaceOne({"_id": document["_id"]}, stored, upsert=True))
        if operations:
            self.traces.bulk_write(operations, ordered=False)
        return len(operations)

    # -- daily rows -----------------------------------------------------------------------------------

    def load_rows(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {document["_id"]: document for document in self.days.find({"_id": {"$in": sorted(set(ids))}})}

    def save_rollup(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows into the month rollup. The handler calls this before ``save_rows``: a kill
        between the two leaves the row behind its rollup, so the replay finds the row changed and
        writes both again (the other way round it would find the row unchanged, the rollup stale)."""
        operations = [
            UpdateOne(
                {"_id": f"{row['machine']}|{row['date'][:7]}"},
                {"$set": {"machine": row["machine"], "month": row["date"][:7], f"days.{row['date']}": packed(row)}},
                upsert=True,
            )
            for row in rows
        ]
        if operations:
            self.months.bulk_write(operations, ordered=False)

    def save_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store rows (each with its ``version``): the versions the topic has."""
        operations = [ReplaceOne({"_id": row["_id"]}, dict(row), upsert=True) for row in rows]
        if operations:
            self.days.bulk_write(operations, ordered=False)
        return len(operations)

    def rows_between(self, first: str, last: str, machine: str | None = None, site: str | None = None) -> list[dict]:
        """Rows of local dates ``first..last`` (inclusive), by machine and date, with the figures the
        summaries read. From the month rollup: a machine's month is one document of packed days, so a
        month of 200 machines is 200 documents, not 6,200 (docs/PERFORMANCE.md: the embedded engine
        copies every field of every document it returns, 0.9 s for the 6,200 rows, 40 ms packed)."""
        query: dict[str, Any] = {"month": {"$gte": first[:7], "$lte": last[:7]}}
        if machine is not None:
            query["machine"] = machine
        rows = []
        for document in self.months.find(query):
            for day, values in document["days"].items():
                if first <= day <= last:
                    row = unpacked(document["machine"], day, values)
                    if site is None or row["site"] == site:
                        rows.append(row)
        rows.sort(key=lambda row: (row["machine"], row["date"]))
        return rows

    def machine_exists(self, machine: str) -> bool:
        return self.days.find_one({"machine": machine}, {"_id": 1}) is not None
