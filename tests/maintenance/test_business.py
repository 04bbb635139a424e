"""Maintenance rules of issue 30, every numeric example plus properties (pure, no django)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from equipment_maintenance import business as b
from tests.properties import property_settings

TODAY = date(2026, 12, 5)
PLAN_250 = b.Template(interval_hours=250)
DONE_AT_1000 = [b.Service(hours=1000, date=date(2026, 11, 1))]


def test_250h_plan_done_at_1000_is_due_soon_at_1226():
    status = b.plan_status(PLAN_250, 1226, DONE_AT_1000, TODAY)
    assert (status.status, status.due_hours, status.hours_left) == (b.DUE_SOON, 1250, 24)


def test_250h_plan_is_ok_just_before_the_window():
    assert b.plan_status(PLAN_250, 1224, DONE_AT_1000, TODAY).status == b.OK


def test_250h_plan_done_at_1000_is_due_at_1250():
    assert b.plan_status(PLAN_250, 1250, DONE_AT_1000, TODAY).status == b.DUE


def test_250h_plan_done_at_1000_is_overdue_by_50_at_1300():
    status = b.plan_status(PLAN_250, 1300, DONE_AT_1000, TODAY)
    assert (status.status, status.overdue_by, status.hours_left) == (b.OVERDUE, 50, 0)


def test_250h_or_30_days_at_2h_a_day_is_due_on_day_30_at_60h():
    plan = b.Template(interval_hours=250, interval_days=30)
    start = date(2026, 1, 1)
    day_30 = start + timedelta(days=30)
    status = b.plan_status(plan, 2 * 30, [], day_30, start=start)
    assert (status.status, status.due_date) == (b.DUE, day_30)
    assert b.plan_status(plan, 2 * 20, [], start + timedelta(days=20), start=start).status == b.OK


def test_130h_left_at_6_5h_a_day_forecasts_20_days_out():
    status = b.plan_status(PLAN_250, 1120, DONE_AT_1000, TODAY)
    assert status.hours_left == 130
    assert b.forecast_date(status, 6.5, TODAY) == TODAY + timedelta(days=20)


def test_no_use_means_no_forecast():
    assert b.forecast_date(b.plan_status(PLAN_250, 1120, DONE_AT_1000, TODAY), 0.0, TODAY) is None


def test_average_daily_hours_of_the_last_30_days():
    assert b.average_daily_hours([6.5] * 20 + [13.0] * 5) == (130 + 65) / 30


def test_late_service_at_1270_next_due_1520_anchor_last_service():
    late = [b.Service(hours=1270, date=TODAY)]
    assert b.due_hours_after(b.Template(interval_hours=250), late) == 1520


def test_late_service_at_1270_next_due_1500_anchor_schedule():
    late = [b.Service(hours=1270, date=TODAY)]
    assert b.due_hours_after(b.Template(interval_hours=250, anchor=b.ANCHOR_SCHEDULE), late) == 1500


def test_tiered_plans_are_several_templates():
    tiers = [b.Template(interval_hours=h, name=f"{h} h") for h in (250, 500, 1000, 2000)]
    statuses = [b.plan_status(t, 990, [], TODAY).status for t in tiers]
    assert statuses == [b.OVERDUE, b.OVERDUE, b.DUE_SOON, b.OK]


hours_steps = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=40)


@property_settings(200)
@given(start=st.floats(min_value=0, max_value=2000, allow_nan=False), steps=hours_steps)
def test_monotone_hours_never_leave_overdue_without_a_service(start, steps):
    hours, overdue_seen = start, False
    for step in steps:
        hours += step
        status = b.plan_status(PLAN_250, hours, DONE_AT_1000, TODAY).status
        assert not (overdue_seen and status != b.OVERDUE)
        overdue_seen = overdue_seen or status == b.OVERDUE


@property_settings(200)
@given(first=st.floats(min_value=900, max_value=1400, allow_nan=False), drops=hours_steps)
def test_hours_going_down_emit_no_event(first, drops):
    readings = [(TODAY, first)]
    day, hours = TODAY, first
    for drop in drops:
        day, hours = day + timedelta(days=1), hours - drop - 0.01
        readings.append((day, hours))
    assert b.events(PLAN_250, readings, DONE_AT_1000) == b.events(PLAN_250, readings[:1], DONE_AT_1000)


@property_settings(200)
@given(steps=hours_steps, seed=st.integers(0, 2**32 - 1))
def test_events_are_the_same_whatever_the_arrival_order(steps, seed):
    hours, readings = 1100.0, []
    for i, step in enumerate(steps):
        hours += step
        readings.append((TODAY + timedelta(days=i), hours))
    shuffled = readings[:]
    random.Random(seed).shuffle(shuffled)
    assert b.events(PLAN_250, shuffled, DONE_AT_1000) == b.events(PLAN_250, readings, DONE_AT_1000)
    assert len(set(b.events(PLAN_250, readings, DONE_AT_1000))) == len(b.events(PLAN_250, readings, DONE_AT_1000))


# -- a stream: batch after batch, with the highest hours seen carried between them ----------------


def in_batches(template, arrival, services, sizes):
    """What the consumer emits for readings arriving in ``arrival`` order, cut into batches of
    ``sizes``: each batch judged above the highest hours of the batches before it, each key once."""
    emitted, highest, start = [], float("-inf"), 0
    for size in sizes:
        batch = arrival[start : start + size]
        start += size
        if not batch:
            continue
        for event in b.plan_events(template, batch, services, highest):
            if (event.cycle, event.status) not in [(e.cycle, e.status) for e in emitted]:
                emitted.append(event)
        highest = max(highest, *(hours for _, hours in batch))
    return {(e.cycle, e.status) for e in emitted}


@property_settings(200)
@given(steps=hours_steps, seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 5), min_size=40, max_size=40))
def test_late_readings_in_any_batches_emit_nothing_a_correct_order_would_not(steps, seed, sizes):
    # Hours that grow with time (a working meter); any arrival order, any cut into batches.
    hours, readings = 1100.0, []
    for i, step in enumerate(steps):
        hours += step
        readings.append((TODAY + timedelta(days=i), hours))
    arrival = readings[:]
    random.Random(seed).shuffle(arrival)
    correct = set(b.events(PLAN_250, readings, DONE_AT_1000))
    emitted = in_batches(PLAN_250, arrival, DONE_AT_1000, sizes)
    assert emitted <= correct
    # The highest reading is judged whenever it arrives: the plan's current status is never missed.
    newest = b.plan_status(PLAN_250, readings[-1][1], DONE_AT_1000, readings[-1][0])
    assert newest.status == b.OK or (newest.cycle, newest.status) in emitted


@property_settings(200)
@given(
    # Steps as wide as the due-soon window and more: a glitch can jump over a band and fall back into it.
    steps=st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=1, max_size=40),
    sizes=st.lists(st.integers(1, 5), min_size=40, max_size=40),
)
def test_in_order_batches_emit_what_one_pass_emits_even_when_hours_go_down(steps, sizes):
    # A glitching meter (hours up and down) read in event-time order, cut into any batches: the
    # highest hours carried between batches makes the cut irrelevant.
    hours, readings = 1150.0, []
    for i, step in enumerate(steps):
        hours += step
        readings.append((TODAY + timedelta(days=i), hours))
    assert in_batches(PLAN_250, readings, DONE_AT_1000, sizes) == set(b.events(PLAN_250, readings, DONE_AT_1000))


def test_plan_events_skip_readings_below_the_highest_seen_before():
    readings = [(TODAY, 1230.0, "a"), (TODAY + timedelta(days=1), 1260.0, "b")]
    assert [(e.status, e.reading[2]) for e in b.plan_events(PLAN_250, readings, DONE_AT_1000)] == [
        (b.DUE_SOON, "a"),
        (b.DUE, "b"),
    ]
    assert [e.status for e in b.plan_events(PLAN_250, readings, DONE_AT_1000, highest=1240.0)] == [b.DUE]
    assert b.plan_events(PLAN_250, readings, DONE_AT_1000, highest=1261.0) == []


def test_a_reading_is_judged_with_the_services_done_by_its_date():
    second = b.Service(hours=1255, date=TODAY)
    late = [(TODAY - timedelta(days=1), 1254.0)]  # taken the day before the second service
    (event,) = b.plan_events(PLAN_250, late, [*DONE_AT_1000, second])
    assert (event.cycle, event.status, event.due_hours) == (1, b.DUE, 1250)
    assert b.plan_events(PLAN_250, [(TODAY, 1256.0)], [*DONE_AT_1000, second]) == []  # cycle 2: OK


def test_interval_days_count_from_the_plan_start_before_any_service():
    plan = b.Template(interval_hours=250, interval_days=30)
    start = TODAY - timedelta(days=30)
    (event,) = b.plan_events(plan, [(TODAY, 60.0)], [], start=start)
    assert (event.cycle, event.status) == (0, b.DUE)
    assert b.plan_events(plan, [(TODAY, 60.0)], []) == []  # no start, no service: hours only


def test_event_key_names_machine_template_cycle_status():
    assert b.event_key("EX001", 7, 2, b.DONE) == "EX001|7|2|done"


# -- the bands' boundaries, the day interval, the forecast (docs/MAINTENANCE.md, "Rules") ----------


def test_due_soon_window_is_inclusive_at_its_start_and_due_lasts_one_window_past_the_due_point():
    # 250 h plan done at 1,000: due at 1,250, window 10 % = 25 h on either side of it.
    def status_at(hours):
        return b.plan_status(PLAN_250, hours, DONE_AT_1000, TODAY).status

    assert [status_at(h) for h in (1224.9, 1225, 1249.5, 1250, 1275, 1275.5)] == [
        b.OK,
        b.DUE_SOON,  # left == window: 0 < left <= w
        b.DUE_SOON,  # half an hour left is still "soon", not due
        b.DUE,
        b.DUE,  # -w <= left <= 0
        b.OVERDUE,
    ]


def test_overdue_by_counts_only_hours_past_the_due_point():
    soon = b.plan_status(PLAN_250, 1226, DONE_AT_1000, TODAY)
    just_due = b.plan_status(PLAN_250, 1250.5, DONE_AT_1000, TODAY)
    assert (soon.hours_left, soon.overdue_by) == (24, 0)
    assert (just_due.hours_left, just_due.overdue_by) == (0, 0.5)


@property_settings(200)
@given(hours=st.floats(min_value=0, max_value=3000, allow_nan=False))
def test_hours_left_and_overdue_by_split_the_distance_to_the_due_point(hours):
    status = b.plan_status(PLAN_250, hours, DONE_AT_1000, TODAY)
    assert status.hours_left >= 0 and status.overdue_by >= 0
    assert min(status.hours_left, status.overdue_by) == 0
    assert status.hours_left - status.overdue_by == status.due_hours - hours


def test_anchor_schedule_an_early_service_outside_the_window_does_not_skip_the_point():
    plan = b.Template(interval_hours=250, anchor=b.ANCHOR_SCHEDULE)
    assert b.due_hours_after(plan, [b.Service(hours=100, date=TODAY)]) == 250  # the next point after it
    assert b.due_hours_after(plan, [b.Service(hours=230, date=TODAY)]) == 500  # within 25 h of 250: counts for it


def test_day_interval_counts_from_the_last_service_not_the_plan_start():
    plan = b.Template(interval_hours=250, interval_days=30)
    services = [b.Service(hours=1250, date=date(2026, 10, 1)), b.Service(hours=1000, date=date(2026, 9, 1))]
    status = b.plan_status(plan, 1260, services, date(2026, 10, 20), start=date(2026, 1, 1))
    assert (status.due_date, status.due_hours, status.status, status.cycle) == (date(2026, 10, 31), 1500, b.OK, 2)


def test_forecast_with_little_use_is_far_out():
    status = b.plan_status(PLAN_250, 1120, DONE_AT_1000, TODAY)  # 130 h left
    assert b.forecast_date(status, 0.5, TODAY) == TODAY + timedelta(days=260)


def test_forecast_is_the_due_date_by_days_when_that_comes_first():
    plan = b.Template(interval_hours=250, interval_days=30)
    early = b.plan_status(plan, 1120, [b.Service(1000, TODAY - timedelta(days=20))], TODAY)  # due in 10 days
    late = b.plan_status(plan, 1120, [b.Service(1000, TODAY - timedelta(days=5))], TODAY)  # due in 25 days
    assert b.forecast_date(early, 6.5, TODAY) == TODAY + timedelta(days=10)  # 130 h at 6.5 h/day: 20 days
    assert b.forecast_date(late, 6.5, TODAY) == TODAY + timedelta(days=20)
    assert b.forecast_date(late, 0.0, TODAY) == TODAY + timedelta(days=25)  # no use: the days still run


def test_an_idle_machine_reaches_the_day_statuses_on_readings_of_equal_hours():
    # Hours equal to the highest seen are not "going down": an idle machine's readings are judged.
    plan = b.Template(interval_hours=250, interval_days=30)  # day window: 3 days
    serviced = [b.Service(hours=1000, date=TODAY)]
    readings = [(TODAY + timedelta(days=day), 1010.0) for day in range(26, 41)]
    found = [(e.status, e.reading[0] - TODAY) for e in b.plan_events(plan, readings, serviced)]
    assert found == [(b.DUE_SOON, timedelta(days=27)), (b.DUE, timedelta(days=30)), (b.OVERDUE, timedelta(days=34))]
    (again,) = b.plan_events(plan, [(TODAY + timedelta(days=31), 1010.0)], serviced, highest=1010.0)
    assert again.status == b.DUE


def test_plan_events_carry_the_hours_past_due_and_sort_only_by_date_and_hours():
    # What follows (date, hours) in a reading is carried, never compared (a dict does not order):
    # readings equal in both keep their arrival order, and the first one is the event's reading.
    readings = [(TODAY, 1300.0, {"offset": 7}), (TODAY, 1300.0, {"offset": 3})]
    (event,) = b.plan_events(PLAN_250, readings, DONE_AT_1000)
    assert (event.status, event.due_hours, event.overdue_by, event.reading[2]) == (b.OVERDUE, 1250, 50, {"offset": 7})
