"""Alerts and the consumer's per-machine state in MongoDB.

``alerts``: one document per alert, ``_id`` = the alert id (hash(machine, rule, start)), so that
writing the same alert again is an upsert of the same document. ``alert_machines``: per machine,
the window of readings the rules judge, the timestamps behind the silence limit, and whether
readings were pruned from the window (business_lifecycle.reconcile's ``judged_from``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne

from equipment_alerts.business_lifecycle import Alert

ALERT_FIELDS = ("machine", "rule", "kind", "start", "end", "value", "detail", "withdrawn", "version")
# A machine state's long lists, stored as one JSON text each: the embedded engine deep-copies every
# element of a list on each read and write, and a 48-hour window of a 1-minute reporter is ~2,900
# readings, so the consumer slowed from 1,454 to 99 msg/s as the windows filled (docs/ALERTS.md).
PACKED_STATE_FIELDS = ("readings", "timestamps")


def packed_state(state: dict) -> dict:
    return {
        **state,
        **{name: json.dumps(state[name], separators=(",", ":")) for name in PACKED_STATE_FIELDS if name in state},
    }


def unpacked_state(document: dict) -> dict:
    for name in PACKED_STATE_FIELDS:
        if isinstance(document.get(name), str):
            document[name] = json.loads(document[name])
    return document


def alert_document(alert: Alert, now_ms: int) -> dict[str, Any]:
    document = {name: getattr(alert, name) for name in ALERT_FIELDS}
    return {**document, "state": alert.state, "updated_at": now_ms}


def alert_from_document(document: dict[str, Any]) -> Alert:
    return Alert(document["_id"], **{name: document.get(name) for name in ALERT_FIELDS})


class AlertRepository:
    def __init__(self, database: Any, collection: str = "alerts", machines_collection: str = "alert_machines") -> None:
        self.alerts = database[collection]
        self.machines = database[machines_collection]
        self._indexed = False

    def ensure_indexes(self) -> None:
        if not self._indexed:
            self.alerts.create_index([("machine", ASCENDING), ("start", ASCENDING)])
            self.alerts.create_index([("state", ASCENDING), ("start", DESCENDING)])
            self._indexed = True

    # --- the consumer ---------------------------------------------------------------------------

    def machine_states(self, machines: Iterable[str]) -> dict[str, dict]:
        return {doc["_id"]: unpacked_state(doc) for doc in self.machines.find({"_id": {"$in": sorted(set(machines))}})}

    def save_machine_states(self, states: Sequence[dict]) -> None:
        if states:
            self.machines.bulk_write(
                [ReplaceOne({"_id": s["_id"]}, packed_state(s), upsert=True) for s in states], ordered=False
            )

    def judged_alerts(self, since_by_machine: dict[str, int]) -> dict[str, list[Alert]]:
        """Each machine's alerts that are open or end at or after its ``since``: one query for the
        batch (not one per machine), filtered here by each machine's own limit."""
        found: dict[str, list[Alert]] = {machine: [] for machine in since_by_machine}
        if not since_by_machine:
            return found
        earliest = min(since_by_machine.values())
        query = {"machine": {"$in": sorted(since_by_machine)}, "$or": [{"end": None}, {"end": {"$gte": earliest}}]}
        for doc in self.alerts.find(query):
            alert = alert_from_document(doc)
            if alert.end is None or alert.end >= since_by_machine[alert.machine]:
                found[alert.machine].append(alert)
        return found

    def save_alerts(self, alerts: Sequence[Alert], now_ms: int) -> None:
        """Upserts by id; the acknowledgement fields are left as they are."""
        if alerts:
            self.ensure_indexes()
            writes = [
                UpdateOne(
                    {"_id": a.id},
                    {"$set": alert_document(a, now_ms), "$setOnInsert": {"opened_at": now_ms}},
                    upsert=True,
                )
                for a in alerts
            ]
            self.alerts.bulk_write(writes, ordered=False)

    def open_alerts(self, kind: str, machines: Iterable[str] | None = None) -> list[Alert]:
        query: dict[str, Any] = {"kind": kind, "end": None}
        if machines is not None:
            query["machine"] = {"$in": sorted(set(machines))}
        return [alert_from_document(doc) for doc in self.alerts.find(query)]

    def last_opened(self, machine: str, rule: str) -> int | None:
        """When the machine's newest alert of ``rule`` was opened (the writer's clock)."""
        docs = list(self.alerts.find({"machine": machine, "rule": rule}).sort("opened_at", DESCENDING).limit(1))
        return docs[0].get("opened_at") if docs else None

    def all_machine_states(self) -> list[dict]:
        """Every machine's state without its readings (the clock needs the newest time and the
        timestamps behind the silence limit)."""
        return [unpacked_state(doc) for doc in self.machines.find({}, {"readings": 0})]

    # --- the API and the reports ----------------------------------------------------------------

    @staticmethod
    def query(state: str | None, machine: str | None, rule: str | None, kind: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if state is not None:
            query["state"] = state
        if machine is not None:
            query["machine"] = machine
        if rule is not None:
            query["rule"] = rule
        if kind is not None:
            query["kind"] = kind
        return query

    def count(self, query: dict[str, Any]) -> int:
        return self.alerts.count_documents(query)

    def find(self, query: dict[str, Any], skip: int, limit: int) -> list[dict]:
        cursor = self.alerts.find(query).sort([("start", DESCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit)
        return list(cursor)

    def get(self, alert_id: str) -> dict | None:
        return self.alerts.find_one({"_id": alert_id})

    def acknowledge(self, alert_id: str, by: str, at_ms: int) -> dict | None:
        """Sets the acknowledgement once: acknowledging again keeps the first one."""
        self.alerts.update_one({"_id": alert_id, "acked_at": None}, {"$set": {"acked_at": at_ms, "acked_by": by}})
        return self.get(alert_id)

    def in_period(self, kinds: Sequence[str], start_ms: int, end_ms: int) -> list[dict]:
        """Alerts starting in ``[start_ms, end_ms)`` of ``kinds`` (empty: all), withdrawn left out."""
        query: dict[str, Any] = {"start": {"$gte": start_ms, "$lt": end_ms}, "withdrawn": {"$ne": True}}
        if kinds:
            query["kind"] = {"$in": list(kinds)}
        return list(self.alerts.find(query).sort([("start", ASCENDING), ("_id", ASCENDING)]))
