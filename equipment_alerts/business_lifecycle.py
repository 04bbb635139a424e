"""Alert lifecycle (pure): the stored alerts of a machine and what the rules find now give the
alerts to write and the OPENED / UPDATED / RESOLVED events to publish.

A finding continues a stored alert of the same rule whose time overlaps it (the stored id stays,
even when a late reading moved the start); otherwise it opens a new alert with
id = hash(machine, rule, start). Re-evaluating the same readings finds the same alerts unchanged,
so a replay publishes nothing. An alert that nothing continues any more, while the readings it
was found in are still judged (a late reading removed the condition), is marked ``withdrawn``
(RESOLVED if it was open, UPDATED if not); an open one whose start left the judged readings is
resolved there. An alert once published is never deleted (docs/ALERTS.md, "Late readings").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from equipment_alerts.business import Finding, alert_id

OPENED, UPDATED, RESOLVED = "OPENED", "UPDATED", "RESOLVED"
OPEN, CLOSED = "open", "resolved"
FOREVER = 2**62


@dataclass(frozen=True)
class Alert:
    id: str
    machine: str
    rule: str
    kind: str
    start: int
    end: int | None
    value: float
    detail: str = ""
    withdrawn: bool = False
    version: int = 1  # bumped by every event, so that each event has an id of its own

    @property
    def state(self) -> str:
        return OPEN if self.end is None else CLOSED


@dataclass(frozen=True)
class AlertEvent:
    event_id: str
    type: str
    alert: Alert
    at: int  # event time of the change (the newest reading judged, or the clock for silence)


def event(kind: str, alert: Alert, at: int) -> AlertEvent:
    return AlertEvent(f"{alert.id}-{alert.version}", kind, alert, at)


def _until(end: int | None) -> int:
    """An end to compare: an open condition (None) lasts for ever."""
    return FOREVER if end is None else end


def _overlaps(alert: Alert, finding: Finding) -> bool:
    return alert.start <= _until(finding.end) and finding.start <= _until(alert.end)


def open_alert(
    machine: str, finding: Finding, at: int, taken: frozenset[str] | set[str] = frozenset()
) -> tuple[Alert, list[AlertEvent]]:
    """A new alert from ``finding``: OPENED, and RESOLVED at once when the finding has ended
    (a refuel, a meter jump, a condition found only after it was over). Its id is
    hash(machine, rule, start), or, should a stored alert hold that id already (two findings of
    one rule with one start), the same hash with a counter."""
    new_id, counter = alert_id(machine, finding.rule, finding.start), 1
    while new_id in taken:
        counter += 1
        new_id = alert_id(machine, finding.rule, f"{finding.start}#{counter}")
    alert = Alert(
        new_id,
        machine,
        finding.rule,
        finding.kind,
        finding.start,
        None,
        finding.value,
        finding.detail,
    )
    events = [event(OPENED, alert, at)]
    if finding.end is not None:
        alert = replace(alert, end=finding.end, version=alert.version + 1)
        events.append(event(RESOLVED, alert, at))
    return alert, events


def continue_alert(alert: Alert, finding: Finding, at: int, judged_from: int) -> tuple[Alert, list[AlertEvent]]:
    """``alert`` as ``finding`` says it is now. A change of start, end or withdrawal is an event
    (UPDATED, or RESOLVED when it ends); a value that only grew (minutes of a run, litres of a
    refuel still filling) is stored without one: the RESOLVED event carries the final value, and the
    topic is not an UPDATED per reading. A finding starting before ``judged_from`` was cut by the
    window's pruning: the alert keeps its own, earlier start (0: nothing was pruned)."""
    start = min(alert.start, finding.start) if finding.start < judged_from else finding.start
    changed = replace(alert, start=start, end=finding.end, value=finding.value, detail=finding.detail, withdrawn=False)
    if changed == alert:
        return alert, []
    if (changed.start, changed.end, changed.withdrawn) == (alert.start, alert.end, alert.withdrawn):
        return changed, []
    changed = replace(changed, version=alert.version + 1)
    kind = RESOLVED if alert.end is None and finding.end is not None else UPDATED
    return changed, [event(kind, changed, at)]


def reconcile(
    machine: str, stored: Iterable[Alert], findings: Iterable[Finding], judged_from: int, at: int
) -> tuple[list[Alert], list[AlertEvent]]:
    """The alerts that changed and their events. ``stored``: the machine's alerts of the rules
    judged, open or ending at or after ``judged_from``: the time from which every reading of the
    machine is judged (0 when none was pruned from its window); ``at``: the newest reading's time."""
    by_rule: dict[str, list[Alert]] = {}
    for alert in sorted(stored, key=lambda a: (a.start, a.id)):
        by_rule.setdefault(alert.rule, []).append(alert)
    ordered = sorted(findings, key=lambda f: (f.rule, f.start, _until(f.end)))
    matches: dict[int, Alert] = {}
    matched: set[str] = set()
    # First the same start (a replay; a withdrawn alert found again): the finding whose start gave an
    # alert its id keeps it, even when a late reading had moved that alert's start.
    for index, finding in enumerate(ordered):
        same_id = alert_id(machine, finding.rule, finding.start)
        match = next((a for a in by_rule.get(finding.rule, []) if a.id == same_id and a.id not in matched), None)
        if match is not None:
            matches[index] = match
            matched.add(match.id)
    # Then a live alert of the same rule that overlaps. A withdrawn one takes no other finding: its
    # end is where it was withdrawn, not where its condition was.
    for index, finding in enumerate(ordered):
        if index in matches:
            continue
        candidates = by_rule.get(finding.rule, [])
        match = next((a for a in candidates if a.id not in matched and not a.withdrawn and _overlaps(a, finding)), None)
        if match is not None:
            matches[index] = match
            matched.add(match.id)
    taken = {a.id for alerts in by_rule.values() for a in alerts}
    changed: list[Alert] = []
    events: list[AlertEvent] = []
    for index, finding in enumerate(ordered):
        if index in matches:
            alert, new_events = continue_alert(matches[index], finding, at, judged_from)
            if alert != matches[index]:
                changed.append(alert)
        else:
            alert, new_events = open_alert(machine, finding, at, taken)
            taken.add(alert.id)
            changed.append(alert)
        events.extend(new_events)
    for alerts in by_rule.values():
        for alert in alerts:
            if alert.id in matched or alert.withdrawn:
                continue
            if alert.start >= judged_from:  # its readings are still judged and support it no more
                ended = replace(alert, end=alert.end if alert.end is not None else max(alert.start, at), withdrawn=True)
                kind = UPDATED if alert.end is not None else RESOLVED
            elif alert.end is None:  # its start left the judged readings: it ended there at the latest
                ended, kind = replace(alert, end=judged_from), RESOLVED
            else:
                continue
            ended = replace(ended, version=alert.version + 1)
            changed.append(ended)
            events.append(event(kind, ended, at))
    return changed, events


def resolve_silence(
    alerts: Sequence[Alert], reading_times: Sequence[int], at: int
) -> tuple[list[Alert], list[AlertEvent]]:
    """Open silent alerts ended by a reading newer than their start (the first such reading)."""
    changed, events = [], []
    for alert in alerts:
        if alert.end is not None:
            continue
        later = [ts for ts in reading_times if ts > alert.start]
        if later:
            ended = replace(alert, end=min(later), version=alert.version + 1)
            changed.append(ended)
            events.append(event(RESOLVED, ended, max(at, min(later))))
    return changed, events
