"""excessive_idle (on messages) and low_util (on the clock, over utilisation's daily rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from equipment_alerts.business import EXCESSIVE_IDLE, LOW_UTIL, MINUTE_MS, Reading, RuleConfig
from equipment_alerts.business_lifecycle import OPENED, RESOLVED
from equipment_alerts.business_utilisation import DAY_SHARE, excessive_idle, low_util_finding, seven_day_utilisation
from equipment_alerts.clock import SilenceWatch
from equipment_alerts.handlers import AlertHandler
from equipment_alerts.repository import AlertRepository
from stream.consumer import Record
from telemetry_site import backends
from tests.alerts.test_consumer_broker import RecordingPublisher
from tests.factories import telemetry

MONDAY_8 = int(datetime(2026, 11, 30, 8, 0, tzinfo=UTC).timestamp() * 1000)
IDLE = RuleConfig("builtin:excessive_idle", EXCESSIVE_IDLE)
LOW = RuleConfig("builtin:low_util", LOW_UTIL)


def idle_then_stop(start: int, minutes: int, hours_at: float = 100.0) -> list[Reading]:
    """Engine running in one place for ``minutes``, then off."""
    running = [
        Reading(start + m * MINUTE_MS, hours=hours_at + m / 60, running=True, latitude=45.0, longitude=9.0)
        for m in range(minutes + 1)
    ]
    off = Reading(start + (minutes + 1) * MINUTE_MS, hours=hours_at + (minutes + 1) / 60, running=False)
    return [*running, off]


def test_an_idle_run_over_30_minutes_is_one_finding_and_30_is_none():
    (run,) = excessive_idle(idle_then_stop(MONDAY_8, 31), IDLE)
    assert run.start == MONDAY_8 and run.end is not None and run.value > 30
    assert excessive_idle(idle_then_stop(MONDAY_8, 29), IDLE) == []


def test_a_day_idle_over_30_percent_of_engine_hours_is_a_finding_of_its_own():
    moving = [
        Reading(MONDAY_8 + m * MINUTE_MS, hours=100 + m / 60, running=True, latitude=45.0 + m * 0.001, longitude=9.0)
        for m in range(61)
    ]
    idle = idle_then_stop(MONDAY_8 + 61 * MINUTE_MS, 28, 100 + 61 / 60)  # 28 min: no run finding
    findings = excessive_idle([*moving, *idle], IDLE)
    (day,) = findings
    assert day.rule == IDLE.key + DAY_SHARE and 30 < day.value < 40 and day.end is None
    only_moving = excessive_idle(moving, IDLE)
    assert only_moving == []


def row(day: str, engine: float, available: float = 8.0) -> dict:
    return {
        "machine": "EX7",
        "date": day,
        "site": "quarry",
        "machine_class": "other",
        "zone": "UTC",
        "engine_hours": engine,
        "available_hours": available,
        "fuel_l": 0.0,
        "hours": {"working": engine, "idle": 0.0, "stationary": 0.0, "off": 0.0, "no_data": 0.0},
        "idle_runs": {"3_6": 0, "6_9": 0, "over_9": 0},
    }


def week(engine: float, until: date) -> list[dict]:
    return [row((until - timedelta(days=i)).isoformat(), engine) for i in range(7)]


def test_seven_day_utilisation_under_35_percent():
    assert seven_day_utilisation(week(2.8, date(2026, 12, 4))) == pytest.approx(35.0)
    assert low_util_finding(LOW, week(2.8, date(2026, 12, 4)), 0, None) is None  # not under
    finding = low_util_finding(LOW, week(2.7, date(2026, 12, 4)), 10, None)
    assert finding.start == 10 and finding.value == pytest.approx(33.75)
    assert low_util_finding(LOW, week(2.0, date(2026, 12, 4)), 20, 10).start == 10  # still the open one
    assert low_util_finding(LOW, [row("2026-12-05", 0.0, 0.0)], 0, None) is None  # nothing available


@pytest.mark.django_db
def test_the_clock_opens_keeps_and_resolves_low_util_from_utilisation_rows(mongo_db):
    repository, publisher = AlertRepository(mongo_db), RecordingPublisher()
    AlertHandler(repository, publisher).handle([Record(telemetry("EX7", MONDAY_8), b"EX7", "t", 0, 0)])
    watch = SilenceWatch(repository, publisher)
    utilisation = backends.repositories["utilisation"]
    saturday = int(datetime(2026, 12, 5, 6, 0, tzinfo=UTC).timestamp() * 1000)

    def judged(at: int, engine: float, until: date) -> tuple[list, list]:
        utilisation.save_rollup(week(engine, until))
        changed, events = watch.low_utilisation(at)
        repository.save_alerts(changed, at)
        return [a for a in changed if a.kind == LOW_UTIL], [e for e in events if e.alert.kind == LOW_UTIL]

    _, (opened,) = judged(saturday, 2.0, date(2026, 12, 4))
    assert opened.type == OPENED and opened.alert.value == pytest.approx(25.0)
    assert judged(saturday + 60 * MINUTE_MS, 2.0, date(2026, 12, 4)) == ([], [])  # the same day again
    # Lower still the next day: the same alert, its figure stored, no event (only its value changed).
    (lower,), events = judged(saturday + 24 * 60 * MINUTE_MS, 1.0, date(2026, 12, 5))
    assert events == [] and lower.id == opened.alert.id and lower.value == pytest.approx(12.5)
    assert repository.get(opened.alert.id)["value"] == pytest.approx(12.5)
    _, (resolved,) = judged(saturday + 48 * 60 * MINUTE_MS, 8.0, date(2026, 12, 6))
    assert resolved.type == RESOLVED and resolved.alert.id == opened.alert.id
