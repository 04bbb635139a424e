"""The alert rules (pure): every example of issue 28, the defaults at their edges, and properties
(arrival order, batching and replay change nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import (
    AFTER_HOURS,
    EXCESSIVE_IDLE,
    FUEL_DRAIN,
    LOW_FUEL,
    METER_ANOMALY,
    MINUTE_MS,
    MOVED_WHILE_OFF,
    OVER_BASELINE,
    REFUEL,
    SITE,
    SITE_EXIT,
    Reading,
    RuleConfig,
    Shift,
    alert_id,
    reading_document,
    reading_from_document,
    reading_from_record,
    rule_applies,
)
from equipment_alerts.business_engine import evaluate
from equipment_alerts.business_rules import after_hours, low_fuel, meter_anomaly, moved_while_off, site_exit
from tests.properties import property_settings

SATURDAY_9 = int(datetime(2026, 12, 5, 9, 0, tzinfo=UTC).timestamp() * 1000)
MONDAY_9 = int(datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp() * 1000)
MONDAY_17 = int(datetime(2026, 12, 7, 17, 0, tzinfo=UTC).timestamp() * 1000)


def rule(kind: str, **options) -> RuleConfig:
    return RuleConfig(key=f"builtin:{kind}", kind=kind, **options)


def minutes(start: int, count: int, **fields) -> list[Reading]:
    return [Reading(start + i * MINUTE_MS, **fields) for i in range(count)]


def run_then_stop(start: int, run_minutes: int) -> list[Reading]:
    return [*minutes(start, run_minutes, running=True), Reading(start + run_minutes * MINUTE_MS, running=False)]


# --- after_hours ---------------------------------------------------------------------------------


def test_saturday_running_8_minutes_is_within_the_grace():
    assert after_hours(run_then_stop(SATURDAY_9, 8), rule(AFTER_HOURS)) == []


def test_saturday_running_12_minutes_is_one_alert_of_12_minutes():
    (finding,) = after_hours(run_then_stop(SATURDAY_9, 12), rule(AFTER_HOURS))
    assert (finding.start, finding.end, finding.value) == (SATURDAY_9, SATURDAY_9 + 12 * MINUTE_MS, 12.0)


def test_exactly_the_grace_is_no_alert_and_a_running_machine_opens_once_past_it():
    assert after_hours(run_then_stop(SATURDAY_9, 10), rule(AFTER_HOURS)) == []
    (ongoing,) = after_hours(minutes(SATURDAY_9, 12, running=True), rule(AFTER_HOURS))
    assert ongoing.end is None and ongoing.value == 11.0


def test_weekday_inside_the_shift_is_no_alert_and_only_the_part_after_18_counts():
    assert after_hours(run_then_stop(MONDAY_9, 120), rule(AFTER_HOURS)) == []
    (finding,) = after_hours(run_then_stop(MONDAY_17, 80), rule(AFTER_HOURS))
    assert finding.start == MONDAY_17 + 60 * MINUTE_MS and finding.value == 20.0


def test_a_holiday_counts_like_a_weekend_and_the_shift_is_local_time():
    holiday = rule(AFTER_HOURS, shift=Shift(holidays=frozenset({date(2026, 12, 7)})))
    assert len(after_hours(run_then_stop(MONDAY_9, 30), holiday)) == 1
    # 09:00 UTC is 10:00 in Rome (inside), 06:30 UTC is 07:30 in Rome but 06:30 in UTC (outside).
    rome = rule(AFTER_HOURS, time_zone="Europe/Rome", shift=Shift(start=time(7, 0), end=time(18, 0)))
    early = MONDAY_9 - 150 * MINUTE_MS
    assert after_hours(run_then_stop(early, 30), rome) == []
    assert len(after_hours(run_then_stop(early, 30), rule(AFTER_HOURS))) == 1


def test_a_data_gap_breaks_a_run():
    readings = [Reading(SATURDAY_9, running=True), Reading(SATURDAY_9 + 3 * 60 * MINUTE_MS, running=True)]
    assert after_hours(readings, rule(AFTER_HOURS)) == []


# --- over_baseline, site_exit, moved_while_off, low_fuel, meter_anomaly --------------------------


def test_over_baseline_counts_engine_hours_of_the_local_day():
    day = [Reading(MONDAY_9 - 2 * 3600_000 + h * 3600_000, hours=100.0 + h) for h in range(10)]
    findings, failures = evaluate(day, [rule(OVER_BASELINE)])
    assert failures == [] and len(findings) == 1 and findings[0].value == 9.0 and findings[0].end is None
    assert evaluate(day[:9], [rule(OVER_BASELINE)])[0] == []  # 8 h: not above the baseline
    next_day = [*day, Reading(MONDAY_9 + 16 * 3600_000, hours=109.0)]
    assert evaluate(next_day, [rule(OVER_BASELINE)])[0][0].end is not None  # the day is over


def test_site_exit_needs_two_readings_spanning_five_minutes():
    home = rule(SITE_EXIT, scope=SITE, scope_value="quarry")
    inside = Reading(MONDAY_9, pois=("quarry",))
    out = [Reading(MONDAY_9 + m * MINUTE_MS, pois=()) for m in (1, 6)]
    back = Reading(MONDAY_9 + 7 * MINUTE_MS, pois=("quarry", "road"))
    (finding,) = site_exit([inside, *out, back], home)
    assert (finding.start, finding.end, finding.detail) == (out[0].timestamp, back.timestamp, "quarry")
    assert site_exit([inside, out[0], replace(out[1], timestamp=MONDAY_9 + 5 * MINUTE_MS), back], home) == []
    assert site_exit([inside, out[0], back], home) == []
    unknown = Reading(MONDAY_9 + 3 * MINUTE_MS, pois=None)  # no list: neither in nor out
    assert len(site_exit([inside, out[0], unknown, out[1]], home)) == 1


def test_moved_while_off_is_more_than_200_m_from_where_it_stopped():
    parked = Reading(MONDAY_9, running=False, latitude=45.0, longitude=9.0)
    near = Reading(MONDAY_9 + MINUTE_MS, running=False, latitude=45.0017, longitude=9.0)  # ~189 m
    far = Reading(MONDAY_9 + 2 * MINUTE_MS, running=False, latitude=45.0019, longitude=9.0)  # ~211 m
    started = Reading(MONDAY_9 + 3 * MINUTE_MS, running=True, latitude=45.0019, longitude=9.0)
    assert moved_while_off([parked, near], rule(MOVED_WHILE_OFF)) == []
    (finding,) = moved_while_off([parked, near, far, started], rule(MOVED_WHILE_OFF))
    assert finding.start == far.timestamp and finding.end == started.timestamp and 205 < finding.value < 215


def test_low_fuel_below_15_percent_for_10_minutes():
    assert low_fuel(minutes(MONDAY_9, 10, level_pct=14.0), rule(LOW_FUEL)) == []  # 9 minutes
    (finding,) = low_fuel(minutes(MONDAY_9, 11, level_pct=14.9), rule(LOW_FUEL))
    assert finding.start == MONDAY_9 and finding.end is None
    assert low_fuel(minutes(MONDAY_9, 30, level_pct=15.0), rule(LOW_FUEL)) == []


def test_meter_anomaly_down_or_faster_than_time_plus_a_quarter_hour():
    base = Reading(MONDAY_9, hours=100.0)
    hour_later = MONDAY_9 + 60 * MINUTE_MS
    assert meter_anomaly([base, Reading(hour_later, hours=101.25)], rule(METER_ANOMALY)) == []
    (fast,) = meter_anomaly([base, Reading(hour_later, hours=101.26)], rule(METER_ANOMALY))
    (down,) = meter_anomaly([base, Reading(hour_later, hours=99.9)], rule(METER_ANOMALY))
    assert (fast.detail, down.detail, down.start, down.end) == ("faster than time", "down", hour_later, hour_later)


# --- fuel: the examples --------------------------------------------------------------------


def tank(start: int, levels: list[float], used: list[float] | None = None, **fields) -> list[Reading]:
    used = used or [500.0] * len(levels)
    return [
        Reading(start + i * MINUTE_MS, level_pct=level, fuel_used_l=u, **fields)
        for i, (level, u) in enumerate(zip(levels, used, strict=True))
    ]


PARKED = {"latitude": 45.0, "longitude": 9.0}


def test_400_l_tank_20_to_80_percent_in_6_minutes_is_one_refuel_of_240_l():
    readings = tank(MONDAY_9, [20, 30, 40, 50, 60, 70, 80] + [80] * 20, **PARKED)
    findings, _ = evaluate(readings, [rule(REFUEL, tank_capacity_l=400.0), rule(FUEL_DRAIN, tank_capacity_l=400.0)])
    (refuel,) = findings
    assert refuel.kind == REFUEL and abs(refuel.value - 240) <= 4 and refuel.end == MONDAY_9 + 6 * MINUTE_MS


def test_refuels_within_15_minutes_are_merged():
    levels = [20, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 60] + [60] * 20
    (refuel,) = evaluate(tank(MONDAY_9, levels, **PARKED), [rule(REFUEL, tank_capacity_l=400.0)])[0]
    assert refuel.value == 160.0


def test_50_to_46_percent_with_1_l_used_engine_off_is_one_drain_of_15_l():
    readings = tank(MONDAY_9, [50, 46] + [46] * 20, [500, 501] + [501] * 20, running=False, **PARKED)
    findings, _ = evaluate(readings, [rule(REFUEL, tank_capacity_l=400.0), rule(FUEL_DRAIN, tank_capacity_l=400.0)])
    (drain,) = findings
    assert drain.kind == FUEL_DRAIN and drain.value == 15.0


def test_a_drain_under_3_percent_of_the_tank_is_nothing():
    readings = tank(MONDAY_9, [50, 47.5] + [47.5] * 20, **PARKED)  # 10 L of 400: under 12 L
    assert evaluate(readings, [rule(FUEL_DRAIN, tank_capacity_l=400.0)])[0] == []


def test_plus_minus_3_percent_while_moving_is_nothing():
    levels = [50, 53, 50, 47, 50, 53, 47, 50] * 3
    moving = [
        Reading(MONDAY_9 + i * MINUTE_MS, level_pct=level, fuel_used_l=500.0, latitude=45.0 + i * 0.001, longitude=9.0)
        for i, level in enumerate(levels)
    ]
    assert evaluate(moving, [rule(REFUEL, tank_capacity_l=400.0), rule(FUEL_DRAIN, tank_capacity_l=400.0)])[0] == []


# --- engine -----------------------------------------------------------------------------------------


def test_a_rule_that_raises_is_reported_and_the_others_still_run():
    broken = rule(AFTER_HOURS, time_zone="Not/AZone")
    findings, failures = evaluate(run_then_stop(SATURDAY_9, 12), [broken, rule(AFTER_HOURS)])
    assert len(findings) == 1 and failures[0][0] == "builtin:after_hours" and "Not/AZone" in failures[0][1]


def test_scope_and_record_reading():
    sites = frozenset({"quarry"})
    assert rule_applies(rule(AFTER_HOURS), "EX1", None, frozenset())
    assert rule_applies(rule(AFTER_HOURS, scope="machine", scope_value="EX1"), "EX1", None, sites)
    assert not rule_applies(rule(AFTER_HOURS, scope="machine", scope_value="EX2"), "EX1", None, sites)
    assert rule_applies(rule(AFTER_HOURS, scope="class", scope_value="pc210"), "EX1", "PC210", sites)
    assert not rule_applies(rule(AFTER_HOURS, scope="class", scope_value="pc210"), "EX1", None, sites)
    assert rule_applies(rule(AFTER_HOURS, scope="site", scope_value="quarry"), "EX1", None, sites)
    assert not rule_applies(rule(AFTER_HOURS, scope="site", scope_value="port"), "EX1", None, sites)
    record = {
        "identifier": "EX1",
        "timestamp": MONDAY_9,
        "location": {"GPS": {"latitude": 45.0, "longitude": 9.0}, "pointsOfInterest": [{"name": "quarry"}]},
        "c40": {"engine": {"running": True}, "fuel": {"level_pct": 40.0, "used_tot_l": 12.5}},
    }
    reading = reading_from_record(record)
    assert reading == Reading(MONDAY_9, None, None, True, 45.0, 9.0, ("quarry",), 40.0, 12.5)
    assert reading_from_document(reading_document(reading)) == reading
    assert reading_from_record({"identifier": "EX1", "timestamp": 1}).pois is None
    assert alert_id("EX1", "r", 1) == alert_id("EX1", "r", 1) != alert_id("EX1", "r", 2)


# --- properties -------------------------------------------------------------------------------------

ALL_RULES = [
    rule(AFTER_HOURS),
    rule(OVER_BASELINE),
    rule(SITE_EXIT, scope=SITE, scope_value="quarry"),
    rule(MOVED_WHILE_OFF),
    rule(LOW_FUEL),
    rule(REFUEL, tank_capacity_l=400.0),
    rule(FUEL_DRAIN, tank_capacity_l=400.0),
    rule(METER_ANOMALY),
    rule(EXCESSIVE_IDLE),
]

readings_strategy = st.lists(
    st.builds(
        Reading,
        timestamp=st.integers(0, 48 * 60).map(lambda m: SATURDAY_9 + m * MINUTE_MS),
        hours=st.one_of(st.none(), st.floats(0, 50)),
        km=st.one_of(st.none(), st.floats(0, 5)),
        running=st.one_of(st.none(), st.booleans()),
        latitude=st.one_of(st.none(), st.floats(44.99, 45.01)),
        longitude=st.just(9.0),
        pois=st.one_of(st.none(), st.sampled_from([(), ("quarry",), ("road",)])),
        level_pct=st.one_of(st.none(), st.floats(0, 100)),
        fuel_used_l=st.one_of(st.none(), st.floats(0, 50)),
    ),
    max_size=60,
    unique_by=lambda r: r.timestamp,
)


@property_settings(200)
@given(readings_strategy, st.randoms(use_true_random=False))
def test_findings_depend_on_the_readings_not_their_arrival_order_nor_duplicates(readings, random):
    shuffled = list(readings)
    random.shuffle(shuffled)
    duplicated = shuffled + shuffled[: len(shuffled) // 2]
    expected = evaluate(readings, ALL_RULES)
    assert evaluate(duplicated, ALL_RULES) == expected
    assert expected[1] == []  # no rule fails on any reading the schema allows
