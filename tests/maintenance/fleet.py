"""A small fleet for the maintenance tests: plans in SQL, engine hours in the current state, 30 days
of use through the usage service's own handler (so the averages come from real daily totals)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from equipment_current.business import fold_state_updates
from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord, TemplateAssignment
from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from telemetry_site import backends
from tests.factories import telemetry

TODAY = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
DAY_MS = 86_400_000


def fixed_now() -> datetime:
    """The injected clock of the tests (settings.MAINTENANCE_CLOCK)."""
    return NOW


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def midnight_ms(day: date) -> int:
    return ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


class RecordingPublisher:
    """A publisher that keeps what it was given (for the API tests, which run no broker)."""

    published: list[dict] = []

    def __init__(self, timeout: float = 0.0) -> None:
        self.timeout = timeout

    def publish(self, events: list[dict]) -> int:
        RecordingPublisher.published.extend(events)
        return len(events)


class NoPublisher:
    """Any usage record is dropped (the usage topic is not what these tests are about)."""

    def publish(self, records: list) -> int:
        return len(records)


def report_hours(machine: str, hours: float, at: datetime = NOW) -> None:
    """The current state of ``machine`` says ``hours`` engine hours."""
    records = [telemetry(machine, ms(at), hours=hours)]
    backends.repositories["current_state"].apply(fold_state_updates(records).values())


def use_daily(machine: str, hours_now: float, per_day: float, days: int = 30) -> None:
    """Readings at each UTC midnight of the ``days`` days before today, ``per_day`` hours apart,
    reaching ``hours_now`` at today's midnight: the usage service's daily totals."""
    start = hours_now - per_day * days
    readings = [
        Reading(machine, midnight_ms(TODAY - timedelta(days=days - step)), start + per_day * step, None)
        for step in range(days + 1)
    ]
    handler = UsageHandler(
        backends.repositories["usage"], backends.repositories["equipment_registry"], NoPublisher(), UsageRules()
    )
    handler.process(readings)


def plan(name: str = "250 h", interval_hours: float = 250, **fields) -> MaintenanceTemplate:
    return MaintenanceTemplate.objects.create(name=name, interval_hours=interval_hours, **fields)


def assign(template: MaintenanceTemplate, machine: str, since: date | None = None) -> None:
    TemplateAssignment.objects.create(template=template, machine=machine, since=since)


def serviced(template: MaintenanceTemplate, machine: str, hours: float, day: date) -> None:
    ServiceRecord.objects.create(template=template, machine=machine, hours=hours, date=day)
