"""Alert lifecycle and silence (pure): OPENED / UPDATED / RESOLVED, ids stable under replay, late
readings, the silent machine example of issue 28."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import AFTER_HOURS, HOUR_MS, MINUTE_MS, SILENT, Finding, Reading, RuleConfig, alert_id
from equipment_alerts.business_engine import evaluate, in_event_order
from equipment_alerts.business_lifecycle import OPENED, RESOLVED, UPDATED, Alert, reconcile, resolve_silence
from equipment_alerts.business_silent import kept_timestamps, silence_limit_ms, silent_finding
from tests.alerts.test_business import ALL_RULES, SATURDAY_9, readings_strategy, run_then_stop
from tests.properties import property_settings

NOON = SATURDAY_9 + 3 * HOUR_MS


class Machine:
    """The consumer's loop without its I/O: a window of readings and the stored alerts."""

    def __init__(self, rules=ALL_RULES) -> None:
        self.window: list[Reading] = []
        self.alerts: dict[str, Alert] = {}
        self.events: list = []
        self.rules = rules

    def batch(self, readings: list[Reading]) -> list:
        self.window = in_event_order([*self.window, *readings])
        if not self.window:
            return []
        findings, failures = evaluate(self.window, self.rules)
        assert failures == []
        # judged_from 0: nothing pruned, every reading so far is judged
        changed, events = reconcile("EX1", self.alerts.values(), findings, 0, self.window[-1].timestamp)
        self.alerts.update({alert.id: alert for alert in changed})
        self.events.extend(events)
        return events

    def standing(self) -> set[tuple]:
        return {(a.rule, a.start, a.end, a.value) for a in self.alerts.values() if not a.withdrawn}


def test_after_hours_alert_opens_past_the_grace_and_resolves_when_the_engine_stops():
    machine = Machine([RuleConfig("builtin:after_hours", AFTER_HOURS)])
    readings = run_then_stop(SATURDAY_9, 12)
    assert machine.batch(readings[:10]) == []  # 9 minutes so far
    (opened,) = machine.batch(readings[10:12])
    assert opened.type == OPENED and opened.alert.start == SATURDAY_9 and opened.alert.end is None
    assert opened.alert.id == alert_id("EX1", "builtin:after_hours", SATURDAY_9)
    (resolved,) = machine.batch(readings[12:])
    assert resolved.type == RESOLVED and resolved.alert.end - resolved.alert.start == 12 * MINUTE_MS
    assert resolved.event_id != opened.event_id and resolved.alert.id == opened.alert.id
    assert machine.batch(readings) == []  # a replay: nothing new


def test_a_late_reading_that_removes_the_condition_withdraws_the_open_alert():
    machine = Machine([RuleConfig("builtin:after_hours", AFTER_HOURS)])
    readings = run_then_stop(SATURDAY_9, 12)
    machine.batch(readings[:12])
    (withdrawn,) = machine.batch([Reading(SATURDAY_9 + 390_000, running=False)])  # 09:06:30
    assert withdrawn.type == RESOLVED and withdrawn.alert.withdrawn


def test_a_late_reading_that_extends_a_resolved_alert_updates_it_and_keeps_its_id():
    machine = Machine([RuleConfig("builtin:after_hours", AFTER_HOURS)])
    late_start = Reading(SATURDAY_9 - 5 * MINUTE_MS, running=True)
    machine.batch(run_then_stop(SATURDAY_9, 12))
    (updated,) = machine.batch([late_start])
    assert updated.type == UPDATED and updated.alert.start == late_start.timestamp
    assert updated.alert.id == alert_id("EX1", "builtin:after_hours", SATURDAY_9)


def test_five_minute_reporter_silent_at_noon_opens_between_16_00_and_16_15_and_resolves_at_its_next_reading():
    silent = RuleConfig("builtin:silent", SILENT)
    timestamps = kept_timestamps([], [NOON - i * 5 * MINUTE_MS for i in range(7 * 24 * 12)])
    assert silence_limit_ms(timestamps) == 4 * HOUR_MS  # 3 x 5 min is under the 4 h floor
    for tick_offset in (0, 7, 14):  # the clock ticks every 15 min, at any phase
        ticks = [NOON + tick_offset * MINUTE_MS + i * 15 * MINUTE_MS for i in range(40)]
        opened_at = next(t for t in ticks if silent_finding(silent, NOON, timestamps, t, None))
        assert NOON + 4 * HOUR_MS <= opened_at < NOON + 4 * HOUR_MS + 15 * MINUTE_MS
    finding = silent_finding(silent, NOON, timestamps, NOON + 4 * HOUR_MS, None)
    alert = Alert(alert_id("EX1", silent.key, finding.start), "EX1", silent.key, SILENT, finding.start, None, 4.0)
    next_reading = NOON + 5 * HOUR_MS
    (ended,), (event,) = resolve_silence([alert], [NOON - MINUTE_MS, next_reading], next_reading)
    assert event.type == RESOLVED and ended.end == next_reading


def test_silence_is_three_median_intervals_and_not_repeated_within_24_hours():
    hourly = [NOON - i * HOUR_MS for i in range(100)]
    assert silence_limit_ms(sorted(hourly)) == 4 * HOUR_MS  # 3 h: under the floor
    two_hourly = sorted(NOON - i * 2 * HOUR_MS for i in range(50))
    assert silence_limit_ms(two_hourly) == 6 * HOUR_MS
    silent = RuleConfig("builtin:silent", SILENT)
    later = NOON + 7 * HOUR_MS
    assert silent_finding(silent, NOON, two_hourly, NOON + 6 * HOUR_MS - 1, None) is None
    assert silent_finding(silent, NOON, two_hourly, later, later - 23 * HOUR_MS) is None
    assert silent_finding(silent, NOON, two_hourly, later, later - 24 * HOUR_MS) is not None


def test_an_instant_finding_opens_and_resolves_in_one_go():
    finding = Finding("r", "meter_anomaly", 10, 10, -1.0, "down")
    changed, events = reconcile("EX1", [], [finding], 0, 10)
    assert [e.type for e in events] == [OPENED, RESOLVED] and changed[0].end == 10
    assert reconcile("EX1", changed, [finding], 0, 10) == ([], [])


@property_settings(100)
@given(readings_strategy, st.lists(st.integers(1, 20), max_size=10))
def test_batches_in_event_order_end_with_the_alerts_of_one_batch_and_a_replay_publishes_nothing(readings, cuts):
    ordered = in_event_order(readings)
    whole = Machine()
    whole.batch(ordered)
    batched, start = Machine(), 0
    for size in [*cuts, len(ordered)]:
        batched.batch(ordered[start : start + size])
        start += size
    assert batched.standing() == whole.standing()
    assert batched.batch(ordered) == [] and whole.batch(ordered) == []
    assert len({e.event_id for e in batched.events}) == len(batched.events)


@property_settings(100)
@given(readings_strategy, st.randoms(use_true_random=False))
def test_any_arrival_order_publishes_every_event_once_and_a_replay_publishes_nothing(readings, random):
    shuffled = list(readings)
    random.shuffle(shuffled)
    machine = Machine()
    for i in range(0, len(shuffled), 7):
        machine.batch(shuffled[i : i + 7])
    assert machine.batch(shuffled) == []
    assert len({e.event_id for e in machine.events}) == len(machine.events)
    final = Machine()
    final.batch(in_event_order(readings))
    assert machine.standing() == final.standing()
