"""What runs on a clock rather than on messages: silent machines (business_silent), low
utilisation over 7 days (business_utilisation, on utilisation's daily rows) and the due scheduled
reports (reports.py). ``manage.py alerts_clock`` calls ``tick`` every few minutes; a
tick twice at the same moment opens and writes nothing twice (alert ids, ReportRun rows)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from equipment_alerts.business import LOW_UTIL, SILENT, RuleConfig, alert_id
from equipment_alerts.business_lifecycle import RESOLVED, Alert, AlertEvent, continue_alert, event, open_alert
from equipment_alerts.business_silent import silent_finding
from equipment_alerts.business_utilisation import low_util_finding
from equipment_alerts.handlers import event_message, machine_rules
from equipment_alerts.parts import AlertParts

logger = logging.getLogger("telemetry.alerts")


class SilenceWatch(AlertParts):
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
        low_util, low_events = self.low_utilisation(now_ms)
        opened += low_util
        events += low_events
        self.publisher.publish([event_message(change) for change in events])
        self.repository.save_alerts(opened, now_ms)
        return events

    def low_utilisation(self, now_ms: int) -> tuple[list[Alert], list[AlertEvent]]:
        """low_util over the 7 local days before today, from utilisation's daily rows (read through
        the repository registry: another app's data). Machines without rows are not judged."""
        from equipment_alerts.rules import rules_in_force
        from telemetry_site.backends import repositories

        rules = [rule for rule in rules_in_force() if rule.kind == LOW_UTIL]
        if not rules:
            return [], []
        rows_source = repositories["utilisation"]
        changed: list[Alert] = []
        events: list[AlertEvent] = []
        for state in self.repository.all_machine_states():
            machine = state["_id"]
            for rule in machine_rules(rules, machine, state):
                try:
                    alerts, new_events = self.judge_utilisation(rule, machine, rows_source, now_ms)
                except Exception as error:  # a bad rule must not stop the clock: logged, skipped
                    logger.error("low_util rule %s failed on machine %s (skipped): %s", rule.key, machine, error)
                    continue
                changed += alerts
                events += new_events
        return changed, events

    def judge_utilisation(
        self, rule: RuleConfig, machine: str, rows_source: Any, now_ms: int
    ) -> tuple[list[Alert], list[AlertEvent]]:
        zone = ZoneInfo(rule.time_zone)
        today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date()
        judged_at = int(datetime.combine(today, datetime.min.time(), zone).timestamp() * 1000)
        first, last = (today - timedelta(days=7)).isoformat(), (today - timedelta(days=1)).isoformat()
        rows = rows_source.rows_between(first, last, machine)
        if not rows:
            return [], []
        current = [a for a in self.repository.open_alerts(LOW_UTIL, [machine]) if a.rule == rule.key]
        open_since = current[0].start if current else None
        finding = low_util_finding(rule, rows, judged_at, open_since)
        if finding is not None:
            if current:
                alert, new_events = continue_alert(current[0], finding, now_ms, 0)  # 0: the rows are whole
                return ([alert] if alert != current[0] else []), new_events
            if self.repository.get(alert_id(machine, rule.key, finding.start)):
                return [], []  # judged already today
            alert, new_events = open_alert(machine, finding, now_ms)
            return [alert], new_events
        if current:
            ended = replace(current[0], end=max(current[0].start, judged_at), version=current[0].version + 1)
            return [ended], [event(RESOLVED, ended, now_ms)]
        return [], []


def tick(now_ms: int, watch: SilenceWatch | None = None, writer: Any = None) -> tuple[int, int]:
    """One run of the clock: (silent alerts opened, reports written)."""
    from equipment_alerts.reports import ReportWriter

    opened = (watch or SilenceWatch()).check(now_ms)
    written = (writer or ReportWriter()).write_due(now_ms)
    return len(opened), len(written)
