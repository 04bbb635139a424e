"""The maintenance service layer: plans of machines (Django models), their engine hours (the
current-state repository), their recent use (the usage repository's daily totals), and the events
(emission store + publisher). Views and the consumer handler call this; the rules are in ``business``.

Data of other apps comes through the repository registries of settings: ``current_state`` (engine
hours, ``engine_hours.hours_tot``; a machine unknown there is an unknown machine) and ``usage``
(daily totals, for the average daily hours).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from equipment_maintenance.business import (
    DONE,
    PlanEvent,
    Service,
    Template,
    average_daily_hours,
    event_key,
    forecast_date,
    plan_status,
)
from equipment_maintenance.models import ServiceRecord, TemplateAssignment

logger = logging.getLogger("telemetry.maintenance")
UNKNOWN = "unknown"  # no engine hours known for the machine


@dataclass(frozen=True)
class Plan:
    """One template assigned to one machine, with the services done for it (oldest first)."""

    machine: str
    template_id: int
    name: str
    rules: Template
    services: tuple[Service, ...]
    start: date | None


def repository(alias: str) -> Any:
    from telemetry_site.backends import repositories

    return repositories[alias]


def plans_of(machines: Iterable[str] | None = None) -> dict[str, list[Plan]]:
    """The plans of ``machines`` (every assigned machine if None), by machine, in template name order."""
    assignments = TemplateAssignment.objects.select_related("template").order_by("machine", "template__name")
    services = ServiceRecord.objects.order_by("date", "hours", "id")
    if machines is not None:
        wanted = sorted(set(machines))
        assignments, services = assignments.filter(machine__in=wanted), services.filter(machine__in=wanted)
    done: dict[tuple[str, int], list[Service]] = defaultdict(list)
    for record in services.only("machine", "template_id", "hours", "date"):
        done[(record.machine, record.template_id)].append(Service(record.hours, record.date))
    plans: dict[str, list[Plan]] = defaultdict(list)
    for assignment in assignments:
        template = assignment.template
        rules = Template(
            interval_hours=template.interval_hours,
            interval_days=template.interval_days,
            first_due_hours=template.first_due_hours,
            anchor=template.anchor,
            due_soon_fraction=template.due_soon_fraction,
            name=template.name,
        )
        services_done = tuple(done.get((assignment.machine, template.pk), ()))
        plans[assignment.machine].append(
            Plan(assignment.machine, template.pk, template.name, rules, services_done, assignment.since)
        )
    return dict(plans)


def engine_hours(states: dict[str, dict]) -> dict[str, float | None]:
    return {machine: (state.get("engine_hours") or {}).get("hours_tot") for machine, state in states.items()}


def average_hours(machines: list[str] | None, today: date) -> dict[str, float]:
    """Average daily engine hours over the MAINTENANCE_AVERAGE_DAYS days before today (today is not
    over yet, so it is left out; days without totals count as 0 h)."""
    days = settings.MAINTENANCE_AVERAGE_DAYS
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    totals = repository("maintenance_readings").daily_hours(machines, first.isoformat(), last.isoformat())
    return {machine: average_daily_hours([hours], days) for machine, hours in totals.items()}


def plan_row(plan: Plan, hours: float | None, average: float, today: date) -> dict[str, Any]:
    """What the API shows of one plan at ``hours`` engine hours (None: unknown) on ``today``."""
    row: dict[str, Any] = {
        "machine": plan.machine,
        "template_id": plan.template_id,
        "template": plan.name,
        "engine_hours": hours,
        "cycle": len(plan.services),
        "last_service": ({"hours": plan.services[-1].hours, "date": plan.services[-1].date} if plan.services else None),
        "average_daily_hours": average,
    }
    if hours is None:
        status = plan_status(plan.rules, 0.0, plan.services, today, plan.start)
        return {
            **row,
            "status": UNKNOWN,
            "due_hours": status.due_hours,
            "hours_left": None,
            "overdue_by": None,
            "due_date": status.due_date,
            "forecast_date": status.due_date,
        }
    status = plan_status(plan.rules, hours, plan.services, today, plan.start)
    return {
        **row,
        "status": status.status,
        "due_hours": status.due_hours,
        "hours_left": status.hours_left,
        "overdue_by": status.overdue_by,
        "due_date": status.due_date,
        "forecast_date": forecast_date(status, average, today),
    }


def machine_plans(machine: str, today: date) -> list[dict[str, Any]] | None:
    """The rows of one machine's plans; None when the current state does not know the machine."""
    state = repository("current_state").get(machine)
    if state is None:
        return None
    hours = engine_hours({machine: state})[machine]
    average = average_hours([machine], today).get(machine, 0.0)
    return [plan_row(plan, hours, average, today) for plan in plans_of([machine]).get(machine, [])]


def fleet_plans(today: date, status: str | None = None, ordering: str = "machine") -> list[dict[str, Any]]:
    """Every assigned plan of the fleet, optionally of one status, by machine or forecast date
    (no forecast last). Three reads in all: the plans, the machines' states, the averages."""
    plans = plans_of()
    hours = engine_hours(repository("maintenance_readings").current_states(plans))
    # Every machine's totals, not those of the assigned ones: a $in of hundreds of identifiers made
    # the in-process engines test each of them against each daily total (400 of 470 ms at 200
    # machines on litemongo); on a server the range is served by usage_daily's `date` index.
    averages = average_hours(None, today)
    rows = [
        plan_row(plan, hours.get(machine), averages.get(machine, 0.0), today)
        for machine, machine_plans_ in plans.items()
        for plan in machine_plans_
    ]
    if status is not None:
        rows = [row for row in rows if row["status"] == status]
    if ordering.lstrip("-") == "forecast_date":
        dated = sorted((r for r in rows if r["forecast_date"]), key=lambda r: (r["forecast_date"], r["machine"]))
        if ordering.startswith("-"):
            dated.reverse()
        rows = dated + [r for r in rows if not r["forecast_date"]]
    return rows


# -- events --------------------------------------------------------------------------------------


def reading_event(plan: Plan, event: PlanEvent) -> dict[str, Any]:
    day, hours, at = event.reading
    return {
        "event_id": event_key(plan.machine, plan.template_id, event.cycle, event.status),
        "machine": plan.machine,
        "template_id": plan.template_id,
        "template": plan.name,
        "cycle": event.cycle,
        "status": event.status,
        "hours": float(hours),
        "due_hours": float(event.due_hours),
        "overdue_by": float(event.overdue_by),
        "date": day.isoformat(),
        "at": at,
    }


def done_event(record: ServiceRecord, cycle: int) -> dict[str, Any]:
    return {
        "event_id": event_key(record.machine, record.template_id, cycle, DONE),
        "machine": record.machine,
        "template_id": record.template_id,
        "template": record.template.name,
        "cycle": cycle,
        "status": DONE,
        "hours": float(record.hours),
        "due_hours": None,
        "overdue_by": 0.0,
        "date": record.date.isoformat(),
        "at": None,
    }


def events_publisher(timeout: float | None = None) -> Any:
    """A publisher of ``settings.MAINTENANCE_PUBLISHER`` (built per call: its producer is lazy)."""
    publisher_class = import_string(settings.MAINTENANCE_PUBLISHER)
    if timeout is None:
        return publisher_class()
    return publisher_class(timeout=timeout)


def publish_pending(events: Any, publisher: Any, machines: Iterable[str]) -> int:
    """Publish the pending emissions of ``machines`` and mark them published (in that order: a kill
    between the two publishes them again, with the same event id; never loses one)."""
    pending = events.pending(machines)
    if not pending:
        return 0
    publisher.publish(pending)
    events.mark_published(pending)
    return len(pending)


def record_service(
    machine: str, template_id: int, hours: float, day: date, note: str, publisher: Any = None, events: Any = None
) -> ServiceRecord:
    """Store a service and emit its DONE (cycle: the services of the plan before it).

    The DONE is claimed inside the record's transaction: a store that does not answer rolls the
    record back (the POST is a 503 and can be sent again), so a stored service always has its DONE
    claimed. A commit that failed after the claim would leave a DONE without a record; sent again,
    the POST claims the same key, so it is still one DONE."""
    events = events or repository("maintenance_events")
    with transaction.atomic():
        cycle = ServiceRecord.objects.filter(machine=machine, template_id=template_id).count()
        record = ServiceRecord.objects.create(
            machine=machine, template_id=template_id, hours=hours, date=day, note=note
        )
        events.claim([done_event(record, cycle)])
    publish_now(machine, publisher, events)
    return record


def emit_done(record: ServiceRecord, cycle: int, publisher: Any = None, events: Any = None) -> None:
    """Claim the DONE of a stored service, then try to publish it now (``publish_now``)."""
    events = events or repository("maintenance_events")
    events.claim([done_event(record, cycle)])
    publish_now(record.machine, publisher, events)


def publish_now(machine: str, publisher: Any, events: Any) -> None:
    """Publish the machine's pending events, waiting MAINTENANCE_PUBLISH_TIMEOUT_SECONDS; if the
    broker does not take them they stay pending and the consumer publishes them with the machine's
    next readings (the service record is stored either way)."""
    publisher = publisher or events_publisher(settings.MAINTENANCE_PUBLISH_TIMEOUT_SECONDS)
    try:
        publish_pending(events, publisher, [machine])
    except Exception:  # the broker is down or slow: the DONE is pending, not lost
        logger.warning("maintenance DONE of %s left pending", machine, exc_info=True)
