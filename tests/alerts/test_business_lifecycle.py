"""Alert lifecycle and silence (pure): OPENED / UPDATED / RESOLVED, ids stable under replay, late
readings, the silent machine example of issue 28."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import AFTER_HOURS, HOUR_MS, MINUTE_MS, SILENT, Finding, Reading, RuleConfig, alert_id
from equipment_alerts.business_engine import evaluate, in_event_order
from equipment_alerts.business_lifecycle import (
    CLOSED,
    OPEN,
    OPENED,
    RESOLVED,
    UPDATED,
    Alert,
    AlertEvent,
    continue_alert,
    open_alert,
    reconcile,
    resolve_silence,
)
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


# --- the lifecycle's rules, one by one ---------------------------------------------------------------

RULE = "builtin:after_hours"


def stored(start: int, end: int | None = None, *, id_start: int | None = None, **fields) -> Alert:
    """A stored alert of RULE on EX1, its id from ``id_start`` (its first start) or ``start``."""
    key = start if id_start is None else id_start
    return Alert(alert_id("EX1", RULE, key), "EX1", RULE, AFTER_HOURS, start, end, 1.0, **fields)


def found(start: int, end: int | None = None, value: float = 1.0, detail: str = "") -> Finding:
    return Finding(RULE, AFTER_HOURS, start, end, value, detail)


def summary(events) -> list[tuple]:
    return [(e.type, e.event_id, e.alert.start, e.alert.end, e.alert.withdrawn, e.at) for e in events]


def test_a_new_alert_is_opened_with_the_id_of_its_start_and_an_ended_one_resolved_at_once():
    alert, (opened,) = open_alert("EX1", found(100, None, 3.0, "d"), 500)
    assert alert == Alert(alert_id("EX1", RULE, 100), "EX1", RULE, AFTER_HOURS, 100, None, 3.0, "d", False, 1)
    assert opened == AlertEvent(f"{alert.id}-1", OPENED, alert, 500)
    ended, events = open_alert("EX1", found(100, 160, 3.0), 500)
    assert summary(events) == [
        (OPENED, f"{alert.id}-1", 100, None, False, 500),
        (RESOLVED, f"{alert.id}-2", 100, 160, False, 500),
    ]
    assert ended == events[-1].alert and ended.version == 2 and ended.state == CLOSED and alert.state == OPEN


def test_an_id_already_stored_for_the_same_start_gets_the_next_counter():
    base, second, third = (alert_id("EX1", RULE, key) for key in (100, "100#2", "100#3"))
    assert open_alert("EX1", found(100), 500, {base})[0].id == second
    assert open_alert("EX1", found(100), 500, {base, second})[0].id == third
    assert open_alert("EX1", found(100), 500, {second})[0].id == base
    # Three findings with one start in one batch: ids by end, the open one last, whatever their order.
    short, longer, ongoing = found(100, 160), found(100, 220), found(100)
    for findings in itertools.permutations([short, longer, ongoing]):
        changed, events = reconcile("EX1", [], findings, 0, 300)
        assert {a.end: a.id for a in changed} == {160: base, 220: second, None: third}
        assert len({e.event_id for e in events}) == len(events) == 5


def test_a_value_or_detail_that_changed_alone_is_stored_without_an_event():
    alert = stored(100, version=3)
    assert continue_alert(alert, found(100, None, 1.0), 500, 0) == (alert, [])
    grown, events = continue_alert(alert, found(100, None, 7.5, "more"), 500, 0)
    assert events == [] and (grown.value, grown.detail, grown.version) == (7.5, "more", 3)


def test_a_moved_start_or_end_is_an_event_with_the_next_version():
    alert = stored(100, version=3)
    resolved, (event,) = continue_alert(alert, found(100, 180), 500, 0)
    assert (event.type, event.event_id, event.at, resolved.end, resolved.version) == (
        RESOLVED,
        f"{alert.id}-4",
        500,
        180,
        4,
    )
    moved, (event,) = continue_alert(alert, found(90), 500, 0)
    assert (event.type, moved.start, moved.end, moved.id) == (UPDATED, 90, None, alert.id)
    reopened, (event,) = continue_alert(stored(100, 180), found(100), 500, 0)
    assert (event.type, reopened.end) == (UPDATED, None)
    later_end, (event,) = continue_alert(stored(100, 180), found(100, 240), 500, 0)
    assert (event.type, later_end.end) == (UPDATED, 240)


def test_a_withdrawn_alert_found_again_is_revived():
    withdrawn = stored(100, 180, withdrawn=True, version=2)
    revived, (event,) = continue_alert(withdrawn, found(100, 180), 500, 0)
    assert (event.type, revived.withdrawn, revived.version, revived.end) == (UPDATED, False, 3, 180)
    changed, events = reconcile("EX1", [withdrawn], [found(100, 180)], 0, 500)
    assert changed == [revived] and summary(events) == summary([event])


def test_a_finding_cut_by_the_pruned_window_leaves_the_alert_its_earlier_start():
    alert = stored(100)
    assert continue_alert(alert, found(250, None, 2.0), 500, 300) == (replace(alert, value=2.0), [])
    assert reconcile("EX1", [alert], [found(250, None, 2.0)], 300, 500) == ([replace(alert, value=2.0)], [])
    earlier, (event,) = continue_alert(alert, found(50), 500, 300)  # a start before the alert's still moves it
    assert (event.type, earlier.start) == (UPDATED, 50)
    # A finding starting right where the judged readings start is whole: its start is the alert's.
    whole, (event,) = continue_alert(alert, found(300), 500, 300)
    assert (event.type, whole.start) == (UPDATED, 300)


def test_the_finding_whose_start_gave_the_id_keeps_the_alert_before_one_that_only_overlaps_it():
    moved = stored(50, id_start=100)  # found at 100, then a late reading moved its start to 50
    changed, events = reconcile("EX1", [moved], [found(40, 60), found(100)], 0, 500)
    new_id = alert_id("EX1", RULE, 40)
    assert [(a.id, a.start, a.end) for a in changed] == [(new_id, 40, 60), (moved.id, 100, None)]
    assert summary(events) == [
        (OPENED, f"{new_id}-1", 40, None, False, 500),
        (RESOLVED, f"{new_id}-2", 40, 60, False, 500),
        (UPDATED, f"{moved.id}-2", 100, None, False, 500),
    ]


def test_a_finding_touching_an_alert_continues_it_and_one_a_millisecond_apart_opens_another():
    ended = stored(100, 200)
    continued, _ = reconcile("EX1", [ended], [found(200, 260)], 0, 500)
    assert [(a.id, a.start, a.end) for a in continued] == [(ended.id, 200, 260)]
    apart, _ = reconcile("EX1", [ended], [found(201, 260)], 0, 500)
    assert {(a.id, a.withdrawn) for a in apart} == {(ended.id, True), (alert_id("EX1", RULE, 201), False)}
    ongoing = stored(200)
    continued, _ = reconcile("EX1", [ongoing], [found(150, 200)], 0, 500)
    assert [(a.id, a.start, a.end) for a in continued] == [(ongoing.id, 150, 200)]
    apart, _ = reconcile("EX1", [ongoing], [found(150, 199)], 0, 500)
    assert {(a.id, a.withdrawn) for a in apart} == {(ongoing.id, True), (alert_id("EX1", RULE, 150), False)}


def test_stored_alerts_are_continued_left_alone_or_withdrawn_one_by_one():
    replayed = stored(10, 20)
    withdrawn = stored(30, 40, withdrawn=True)
    moved = stored(50)
    gone = stored(300, version=4)
    gone_ended = stored(320, 330)
    findings = [found(10, 20), found(55)]
    changed, events = reconcile("EX1", [gone_ended, gone, moved, withdrawn, replayed], findings, 0, 350)
    assert [(a.id, a.start, a.end, a.withdrawn, a.version) for a in changed] == [
        (moved.id, 55, None, False, 2),
        (gone.id, 300, 350, True, 5),  # open: resolved at the newest reading
        (gone_ended.id, 320, 330, True, 2),  # resolved: keeps its end
    ]
    assert summary(events) == [
        (UPDATED, f"{moved.id}-2", 55, None, False, 350),
        (RESOLVED, f"{gone.id}-5", 300, 350, True, 350),
        (UPDATED, f"{gone_ended.id}-2", 320, 330, True, 350),
    ]


def test_an_open_alert_whose_start_left_the_judged_readings_is_resolved_where_they_start():
    pruned_ended = stored(90, 150)
    pruned_open = stored(100, version=2)
    judged_open = stored(200)  # starts right where the judged readings start: still judged
    changed, events = reconcile("EX1", [judged_open, pruned_open, pruned_ended], [], 200, 500)
    assert [(a.id, a.end, a.withdrawn, a.version) for a in changed] == [
        (pruned_open.id, 200, False, 3),
        (judged_open.id, 500, True, 2),
    ]
    assert summary(events) == [
        (RESOLVED, f"{pruned_open.id}-3", 100, 200, False, 500),
        (RESOLVED, f"{judged_open.id}-2", 200, 500, True, 500),
    ]


def test_a_silent_alert_ends_at_the_first_reading_after_its_start():
    done = replace(stored(0, 10), rule="builtin:silent")
    silent = replace(stored(100), rule="builtin:silent", version=2)
    waiting = replace(stored(400), rule="builtin:silent")
    changed, events = resolve_silence([done, silent, waiting], [100, 180, 150], 120)
    assert changed == [replace(silent, end=150, version=3)]
    assert summary(events) == [(RESOLVED, f"{silent.id}-3", 100, 150, False, 150)]  # at the reading
    assert resolve_silence([silent], [150], 400)[1][0].at == 400  # or the batch's newest, if later
    assert resolve_silence([silent], [100, 99], 400) == ([], [])  # its own start ends nothing


findings_strategy = st.lists(
    st.builds(
        lambda rule, start, length: Finding(rule, AFTER_HOURS, start, None if length is None else start + length, 1.0),
        st.sampled_from([RULE, "rule:2"]),
        st.integers(0, 10),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    max_size=8,
    unique_by=lambda f: (f.rule, f.start),  # as the rules find them: one condition of a rule per start
)


@property_settings(100)
@given(findings_strategy, findings_strategy, st.randoms(use_true_random=False))
def test_a_batch_does_not_depend_on_the_order_of_its_findings_nor_of_the_stored_alerts_and_its_replay_is_nothing(
    before, now, random
):
    stored_alerts, _ = reconcile("EX1", [], before, 0, 20)
    changed, events = reconcile("EX1", stored_alerts, now, 0, 30)
    shuffled_stored, shuffled_now = list(stored_alerts), list(now)
    random.shuffle(shuffled_stored)
    random.shuffle(shuffled_now)
    assert reconcile("EX1", shuffled_stored, shuffled_now, 0, 30) == (changed, events)
    assert len({e.event_id for e in events}) == len(events)
    after = {a.id: a for a in stored_alerts} | {a.id: a for a in changed}
    assert reconcile("EX1", after.values(), now, 0, 30) == ([], [])
