"""The alert handler over the in-process database: rules from SQL applied by scope, a broken rule
logged and skipped while the others still alert."""

from __future__ import annotations

import logging

import pytest

from equipment_alerts.business import MINUTE_MS
from equipment_alerts.handlers import AlertHandler
from equipment_alerts.models import AlertRule
from equipment_alerts.repository import AlertRepository
from stream.consumer import Record
from tests.alerts.test_business import SATURDAY_9
from tests.alerts.test_consumer_broker import RecordingPublisher
from tests.factories import telemetry


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def saturday_run(machine: str, minutes: int) -> list[Record]:
    values = [telemetry(machine, SATURDAY_9 + m * MINUTE_MS, running=m < minutes) for m in range(minutes + 1)]
    return [Record(v, machine.encode(), "t", 0, i) for i, v in enumerate(values)]


@pytest.mark.django_db
def test_a_broken_rule_is_logged_and_skipped_and_scoped_rules_apply_to_their_machines(mongo_db, settings):
    settings.ALERTS_BUILTIN_RULES = False
    # Written past the API (which refuses it): a zone the system does not know, and a threshold
    # of the wrong kind of value for its rule would be the same story.
    broken = AlertRule.objects.create(name="broken", kind="after_hours", time_zone="Not/AZone")
    mine = AlertRule.objects.create(name="EX1 nights", kind="after_hours", scope="machine", scope_value="EX1")
    strict = AlertRule.objects.create(name="5 min", kind="after_hours", duration_minutes=5)
    publisher = RecordingPublisher()
    handler = AlertHandler(AlertRepository(mongo_db), publisher)
    logged = Collected()
    logger = logging.getLogger("telemetry.alerts")  # propagates to no root handler: collected here
    logger.addHandler(logged)
    try:
        handler.handle(saturday_run("EX1", 12) + saturday_run("EX2", 8))
    finally:
        logger.removeHandler(logged)
    assert any(f"alert rule {broken.pk} skipped" in line for line in logged.lines)
    opened = sorted((m["machine"], m["rule"]) for m in publisher.messages if m["type"] == "OPENED")
    assert opened == [("EX1", mine.key), ("EX1", strict.key), ("EX2", strict.key)]


@pytest.mark.django_db
def test_a_condition_longer_than_the_window_stays_one_alert_with_its_start_and_no_event_per_batch(mongo_db):
    """Low fuel for 60 h, a reading every 30 min, in batches of 10: the window keeps 48 h, the
    alert keeps its start (the window cut the finding's) and publishes OPENED only."""
    publisher = RecordingPublisher()
    handler = AlertHandler(AlertRepository(mongo_db), publisher)
    values = [telemetry("EX3", SATURDAY_9 + i * 30 * MINUTE_MS, fuel_level=10.0, running=False) for i in range(121)]
    for start in range(0, len(values), 10):
        handler.handle([Record(v, b"EX3", "t", 0, start + i) for i, v in enumerate(values[start : start + 10])])
    low = [m for m in publisher.messages if m["kind"] == "low_fuel"]
    assert [(m["type"], m["start"]) for m in low] == [("OPENED", SATURDAY_9)]
    state = AlertRepository(mongo_db).machine_states(["EX3"])["EX3"]
    assert state["pruned_before"] > SATURDAY_9 and len(state["readings"]) == 97  # 48 h of half-hours
    (alert,) = mongo_db.alerts.find({"kind": "low_fuel"})
    assert alert["start"] == SATURDAY_9 and alert["end"] is None and alert["value"] > 40 * 60
