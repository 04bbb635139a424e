"""The alert consumer: per batch, each machine's readings join its window (MongoDB), the rules in
force judge the window in event time, the changes are published, then stored; the loop commits
after that (at least once; a replay finds the alerts stored and publishes nothing new).

Publish before store: a crash between the two replays the batch, which finds the same changes
against the same stored alerts and publishes the same events (same event ids) again, where the
other order would have stored changes nobody was told about.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from equipment_alerts.business import (
    HOUR_MS,
    LOW_UTIL,
    SILENT,
    RuleConfig,
    reading_document,
    reading_from_document,
    reading_from_record,
    rule_applies,
)
from equipment_alerts.business_engine import evaluate, in_event_order
from equipment_alerts.business_lifecycle import Alert, AlertEvent, reconcile, resolve_silence
from equipment_alerts.business_silent import kept_timestamps
from equipment_alerts.parts import AlertParts
from equipment_alerts.repository import AlertRepository
from stream.consumer import Record
from stream.records import field

logger = logging.getLogger("telemetry.alerts")

# Alerts starting less than this after the oldest reading of a pruned window are not withdrawn when
# the rules no longer find them: what they were found in may have been pruned (a data gap, a merge
# gap and the site-exit span are all shorter).
JUDGE_MARGIN_MS = 2 * HOUR_MS
CLOCK_KINDS = frozenset({SILENT, LOW_UTIL})  # judged by alerts_clock, not on messages


def event_message(event: AlertEvent) -> dict[str, Any]:
    alert = event.alert
    return {
        "event_id": event.event_id,
        "type": event.type,
        "alert_id": alert.id,
        "machine": alert.machine,
        "rule": alert.rule,
        "kind": alert.kind,
        "state": alert.state,
        "start": alert.start,
        "end": alert.end,
        "value": float(alert.value),
        "detail": alert.detail,
        "withdrawn": alert.withdrawn,
        "version": alert.version,
        "at": event.at,
    }


def judged_from(state: dict) -> int:
    """From when a machine's window can judge alerts: everything, unless readings were pruned."""
    return state["pruned_before"] + JUDGE_MARGIN_MS if state["pruned_before"] else 0


def machine_rules(rules: Sequence[RuleConfig], machine: str, state: dict) -> list[RuleConfig]:
    from equipment_alerts.rules import tank_capacity_l

    sites = frozenset(state.get("sites") or ())
    capacity = tank_capacity_l(state.get("model"))
    return [r.with_tank(capacity) for r in rules if rule_applies(r, machine, state.get("model"), sites)]


class AlertHandler(AlertParts):
    def __init__(
        self,
        repository: AlertRepository | None = None,
        publisher: Any = None,
        rules: Sequence[RuleConfig] | None = None,
    ) -> None:
        super().__init__(repository, publisher)
        self._rules = rules

    def rules(self) -> list[RuleConfig]:
        if self._rules is not None:
            return list(self._rules)
        from equipment_alerts.rules import rules_in_force

        return rules_in_force()  # read per batch: a rule added in the API applies from the next batch

    def handle(self, records: Sequence[Record]) -> None:
        from django.conf import settings

        by_machine: dict[str, list[dict]] = {}
        for record in records:
            by_machine.setdefault(record.value["identifier"], []).append(record.value)
        rules = self.rules()
        states = self.repository.machine_states(by_machine)
        window_ms = int(settings.ALERTS_WINDOW_HOURS * HOUR_MS)
        now_ms = int(time.time() * 1000)
        changed: list[Alert] = []
        events: list[AlertEvent] = []
        new_states = {}
        for machine, values in by_machine.items():
            state = states.get(machine) or {"_id": machine, "readings": [], "timestamps": [], "pruned_before": 0}
            new_states[machine] = self.advance(state, values, window_ms)
        stored = self.repository.judged_alerts(
            {machine: judged_from(state) for machine, state in new_states.items()}
        )  # one query for the batch
        for machine, values in by_machine.items():
            alerts, machine_events = self.judge(
                machine, new_states[machine], rules, [v["timestamp"] for v in values], stored[machine]
            )
            changed.extend(alerts)
            events.extend(machine_events)
        self.publisher.publish([event_message(e) for e in events])
        self.repository.save_alerts(changed, now_ms)
        self.repository.save_machine_states(list(new_states.values()))

    @staticmethod
    def advance(state: dict, values: list[dict], window_ms: int) -> dict:
        """The machine's window with ``values`` added, pruned to ``window_ms`` behind its newest."""
        readings = in_event_order(
            [reading_from_document(d) for d in state["readings"]] + [reading_from_record(v) for v in values]
        )
        newest = readings[-1].timestamp
        kept = [r for r in readings if r.timestamp >= newest - window_ms]
        pruned = [r.timestamp for r in readings if r.timestamp < newest - window_ms]
        latest_values = max(values, key=lambda v: v["timestamp"])
        model = field(latest_values, "description", "model") or state.get("model")
        sites = sorted({poi for r in kept for poi in (r.pois or ())})
        return {
            **state,
            "readings": [reading_document(r) for r in kept],
            "timestamps": kept_timestamps(state.get("timestamps") or [], [v["timestamp"] for v in values]),
            "pruned_before": max([state.get("pruned_before") or 0, *pruned]),
            "newest": newest,
            "model": model,
            "sites": sites,
        }

    def judge(
        self, machine: str, state: dict, rules: Sequence[RuleConfig], new_times: list[int], stored: list[Alert]
    ) -> tuple[list[Alert], list[AlertEvent]]:
        """Judge the machine's window; ``stored`` are its alerts open or ending since ``judged_from``."""
        window = [reading_from_document(d) for d in state["readings"]]
        newest = state["newest"]
        since = judged_from(state)
        applicable = machine_rules(rules, machine, state)
        findings, failures = evaluate(window, applicable)
        for rule_key, error in failures:
            logger.error("alert rule %s failed on machine %s (skipped): %s", rule_key, machine, error)
        keys = {r.key for r in applicable if r.kind not in CLOCK_KINDS}
        # A rule's key, or its key with a suffix (excessive_idle's daily share: DAY_SHARE).
        judged = [a for a in stored if a.rule.split("/")[0] in keys]
        changed, events = reconcile(machine, judged, findings, since, newest)
        silent = [a for a in stored if a.kind == SILENT and a.end is None]
        resolved, silence_events = resolve_silence(silent, new_times, newest)
        return changed + resolved, events + silence_events
