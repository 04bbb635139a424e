"""Maintenance by engine hours: plan status, forecast and events (pure: no django, no pymongo).

Rules (docs/MAINTENANCE.md): a plan is due at ``due_hours`` or ``due_date`` whichever comes first;
DUE_SOON within ``due_soon_fraction`` of the interval before it, DUE from it for the same width
after it, OVERDUE beyond. State is passed in as arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

OK, DUE_SOON, DUE, OVERDUE, DONE = "ok", "due_soon", "due", "overdue", "done"
SEVERITY = {OK: 0, DUE_SOON: 1, DUE: 2, OVERDUE: 3}
ANCHOR_LAST_SERVICE, ANCHOR_SCHEDULE = "last_service", "schedule"


@dataclass(frozen=True)
class Template:
    interval_hours: float
    interval_days: int | None = None
    first_due_hours: float | None = None
    anchor: str = ANCHOR_LAST_SERVICE
    due_soon_fraction: float = 0.10
    name: str = ""

    @property
    def window_hours(self) -> float:
        return self.interval_hours * self.due_soon_fraction

    @property
    def first_due(self) -> float:
        return self.interval_hours if self.first_due_hours is None else self.first_due_hours


@dataclass(frozen=True)
class Service:
    hours: float
    date: date


@dataclass(frozen=True)
class PlanStatus:
    status: str
    due_hours: float
    hours_left: float
    overdue_by: float
    due_date: date | None
    cycle: int


def due_hours_after(template: Template, services: Sequence[Service]) -> float:
    """Engine hours at which the next service is due."""
    if not services:
        return template.first_due
    last = max(services, key=lambda s: (s.hours, s.date))
    if template.anchor == ANCHOR_SCHEDULE:
        # A service done within the window of a scheduled point (early or late) counts for it.
        served = last.hours + template.window_hours
        steps = max(0, math.floor((served - template.first_due) / template.interval_hours) + 1)
        return template.first_due + steps * template.interval_hours
    return last.hours + template.interval_hours


def _status_by_left(left: float, window: float) -> str:
    if left > window:
        return OK
    if left > 0:
        return DUE_SOON
    if -left <= window:
        return DUE
    return OVERDUE


def plan_status(
    template: Template, hours: float, services: Sequence[Service], today: date, start: date | None = None
) -> PlanStatus:
    """Status of one plan at ``hours`` engine hours on ``today``; ``start`` anchors days before any service."""
    due = due_hours_after(template, services)
    left = due - hours
    status = _status_by_left(left, template.window_hours)
    due_date = None
    if template.interval_days:
        since = max(services, key=lambda s: (s.hours, s.date)).date if services else start
        if since is not None:
            due_date = since + timedelta(days=template.interval_days)
            days_window = template.interval_days * template.due_soon_fraction
            by_days = _status_by_left((due_date - today).days, days_window)
            status = max(status, by_days, key=SEVERITY.__getitem__)  # the worse one wins
    cycle = len(services)
    return PlanStatus(status, due, max(left, 0.0), max(-left, 0.0), due_date, cycle)


def forecast_date(status: PlanStatus, avg_daily_hours: float, today: date) -> date | None:
    """today + hours left / average daily hours (days rounded up), capped by the due date; None at 0 use."""
    by_hours = None
    if avg_daily_hours > 0:
        by_hours = today + timedelta(days=math.ceil(status.hours_left / avg_daily_hours - 1e-9))
    return min((day for day in (by_hours, status.due_date) if day is not None), default=None)


def average_daily_hours(daily_hours: Iterable[float], days: int = 30) -> float:
    """Average engine hours a day over the last ``days`` days (missing days count as 0)."""
    return sum(daily_hours) / days


@dataclass(frozen=True)
class PlanEvent:
    """A status a plan reached at a reading: ``reading`` is the tuple given, (date, hours, ...)."""

    cycle: int
    status: str
    due_hours: float
    overdue_by: float
    reading: tuple


def plan_events(
    template: Template,
    readings: Iterable[tuple],
    services: Sequence[Service],
    highest: float = -math.inf,
    start: date | None = None,
) -> list[PlanEvent]:
    """Statuses other than OK reached by ``readings`` (tuples starting with date, hours), in
    event-time order, each (cycle, status) once.

    ``highest`` is the highest engine hours seen before these readings (a stream evaluates batch
    after batch): a reading below it emits nothing (hours going down are noise, or a late reading
    whose place in a correct order lies behind a higher one). Sorting by (date, hours) makes the
    result the same whatever the arrival order inside one call. A reading is judged with the
    services done by its date, so a late reading gets the status it had when it was taken.
    """
    emitted: list[PlanEvent] = []
    seen: set[tuple] = set()
    for reading in sorted(readings, key=lambda r: (r[0], r[1])):
        day, hours = reading[0], reading[1]
        if hours < highest:
            continue
        highest = hours
        done = [s for s in services if s.date <= day]
        st = plan_status(template, hours, done, day, start)
        key = (st.cycle, st.status)
        if st.status != OK and key not in seen:
            seen.add(key)
            emitted.append(PlanEvent(st.cycle, st.status, st.due_hours, st.overdue_by, reading))
    return emitted


def events(template: Template, readings: Iterable[tuple[date, float]], services: Sequence[Service]) -> list[tuple]:
    """Events (cycle, status) for readings, evaluated in event-time order, each at most once.

    A reading below the highest hours seen so far emits nothing (hours going down are noise).
    Sorting by (date, hours) makes the result the same whatever the arrival order.
    """
    return [(event.cycle, event.status) for event in plan_events(template, readings, services)]


def event_key(machine: str, template_id: int, cycle: int, status: str) -> str:
    """The identity of an event: each (machine, template, cycle, status) is emitted at most once.
    ``cycle`` is the number of services done; DONE carries the cycle the service closes."""
    return f"{machine}|{template_id}|{cycle}|{status}"
