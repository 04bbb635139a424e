"""What runs on a clock rather than on messages: silent machines (business_silent) and the due
scheduled reports (reports.py). ``manage.py alerts_clock`` calls ``tick`` every few minutes; a
tick twice at the same moment opens and writes nothing twice (alert ids, ReportRun rows)."""

from __future__ import annotations

import logging
from typing import Any

from equipment_alerts.business import SILENT, alert_id
from equipment_alerts.business_lifecycle import Alert, AlertEvent, open_alert
from equipment_alerts.business_silent import silent_finding
from equipment_alerts.handlers import event_message, machine_rules
from equipment_alerts.repository import AlertRepository

logger = logging.getLogger("telemetry.alerts")


class SilenceWatch:
    def __init__(self, repository: AlertRepository | None = None, publisher: Any = None) -> None:
        self._repository = repository
        self._publisher = publisher

    @property
    def repository(self) -> AlertRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["alerts"]
        return self._repository

    @property
    def publisher(self) -> Any:
        if self._publisher is None:
            from equipment_alerts.publisher import AlertPublisher

            self._publisher = AlertPublisher()
        return self._publisher

    def check(self, now_ms: int) -> list[AlertEvent]:
        """Open a silent alert for every machine quiet past its limit; publish, then store."""
        from equipment_alerts.rules import rules_in_force

        rules = [rule for rule in rules_in_force() if rule.kind == SILENT]
        opened: list[Alert] = []
        events: list[AlertEvent] = []
        for state in self.repository.all_machine_states():
            machine = state["_id"]
            for rule in machine_rules(rules, machine, state):
                try:
                    previous = self.repository.last_opened(machine, rule.key)
                    finding = silent_finding(rule, state["newest"], state.get("timestamps") or [], now_ms, previous)
                except Exception as error:  # a bad rule must not stop the clock: logged, skipped
                    logger.error("silent rule %s failed on machine %s (skipped): %s", rule.key, machine, error)
                    continue
                if finding is None or self.repository.get(alert_id(machine, rule.key, finding.start)):
                    continue
                alert, new_events = open_alert(machine, finding, now_ms)
                opened.append(alert)
                events.extend(new_events)
        self.publisher.publish([event_message(event) for event in events])
        self.repository.save_alerts(opened, now_ms)
        return events


def tick(now_ms: int, watch: SilenceWatch | None = None, writer: Any = None) -> tuple[int, int]:
    """One run of the clock: (silent alerts opened, reports written)."""
    from equipment_alerts.reports import ReportWriter

    opened = (watch or SilenceWatch()).check(now_ms)
    written = (writer or ReportWriter()).write_due(now_ms)
    return len(opened), len(written)
