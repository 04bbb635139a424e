"""``ConsumerProgressRepository``: the last committed batch of each consumer service (ops views)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from stream.consumer import BatchReport


class ConsumerProgressRepository:
    def __init__(self, database: Any, collection: str = "consumer_progress") -> None:
        self.collection = database[collection]

    def record(self, report: BatchReport) -> None:
        """One upsert per batch: the last batch replaces the previous one; counters accumulate."""
        last = asdict(report)
        self.collection.update_one(
            {"_id": report.service},
            {
                "$set": {"last_batch": last},
                "$max": {"last_committed_at": report.committed_at},
                "$inc": {
                    "messages": report.messages,
                    "processed": report.processed,
                    "dead_lettered": report.dead_lettered,
                    "batches": 1,
                },
            },
            upsert=True,
        )

    def all(self) -> list[dict]:
        return list(self.collection.find().sort("_id", 1))
