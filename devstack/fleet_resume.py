"""Where a restarted fleet simulation picks up, so that ``make run`` resumes instead of replaying.

The embedded broker keeps nothing across a restart, while the store keeps everything. The
simulator is deterministic (same seed, same start, same events), so a restart re-runs the fleet
recorded in the store from its original start and publishes, per machine, only the events after
the newest one that every telemetry service has stored. The rest is generated and dropped (about
65,000 events a second, 1.3 s per simulated day of 50 machines here), so machines keep their
counters and positions, and the consumers only see the time the stack was stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

FLEET_RUN = "fleet"


class SimulatorRunRepository:
    """The options and start of the simulated fleet whose data the store holds (one document)."""

    def __init__(self, database: Any, collection: str = "simulator_runs") -> None:
        self.collection = database[collection]

    def get(self, run: str = FLEET_RUN) -> dict | None:
        return self.collection.find_one({"_id": run})

    def save(self, parameters: dict[str, Any], start_ms: int, run: str = FLEET_RUN) -> None:
        self.collection.replace_one(
            {"_id": run}, {"_id": run, "parameters": parameters, "start_ms": start_ms}, upsert=True
        )


def stored_until_by_service() -> dict[str, Callable[[list[str]], dict[str, int]]]:
    """For each telemetry service, how to read the event time up to which it has stored a machine.

    Within a partition a machine's events are in time order, so a service that stored the event at
    ``t`` stored every earlier one of that machine too.
    """
    from telemetry_site.backends import repositories

    def current(ids: list[str]) -> dict[str, int]:
        collection = repositories["current_state"].collection
        return {
            doc["_id"]: doc["last_event_at"] for doc in collection.find({"_id": {"$in": ids}}, {"last_event_at": 1})
        }

    def history(ids: list[str]) -> dict[str, int]:
        return repositories["positions"].newest_timestamps(ids)

    def usage(ids: list[str]) -> dict[str, int]:
        return {identifier: ref.timestamp for identifier, ref in repositories["usage"].references(ids).items()}

    return {"current": current, "history": history, "usage": usage}


def resume_points(identifiers: Iterable[str], services: Iterable[str]) -> dict[str, int]:
    """Per machine, the newest event time that every one of ``services`` has stored; a machine some
    service has nothing of is left out (everything of it is published again: writes are idempotent)."""
    ids = list(identifiers)
    readers = stored_until_by_service()
    stored = [readers[name](ids) for name in services if name in readers]
    if not stored:
        return {}
    return {
        identifier: min(times[identifier] for times in stored)
        for identifier in ids
        if all(identifier in times for times in stored)
    }
