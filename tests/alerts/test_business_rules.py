"""The message rules of business_rules.py (pure), at their edges: the shift in local time (far from
UTC too), running spans and data gaps, engine hours per local day, site exits, moves while off, low
fuel and the hour meter. Each finding is compared whole: rule key, kind, start, end and value."""

from __future__ import annotations

import itertools
from datetime import datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import (
    AFTER_HOURS,
    HOUR_MS,
    LOW_FUEL,
    METER_ANOMALY,
    MINUTE_MS,
    MOVED_WHILE_OFF,
    OVER_BASELINE,
    SITE,
    SITE_EXIT,
    Finding,
    Reading,
    RuleConfig,
    Shift,
)
from equipment_alerts.business_rules import (
    after_hours,
    daily_engine_hours,
    low_fuel,
    meter_anomaly,
    moved_while_off,
    off_shift_segments,
    over_baseline,
    running_spans,
    shift_windows,
    site_exit,
)
from equipment_utilisation.business import distance_m
from tests.properties import property_settings

UTC = ZoneInfo("UTC")
ROME = ZoneInfo("Europe/Rome")  # UTC+1 in December
TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9: its Monday morning is Sunday in UTC


def local(day: int, hour: int, minute: int = 0, zone: ZoneInfo = UTC) -> int:
    """December 2026 (the 7th is a Monday) in ``zone``, as UTC ms."""
    return int(datetime(2026, 12, day, hour, minute, tzinfo=zone).timestamp() * 1000)


MONDAY_9 = local(7, 9)


def rule(kind: str, **options) -> RuleConfig:
    return RuleConfig(key=f"builtin:{kind}", kind=kind, **options)


def run(start: int, end: int) -> list[Reading]:
    """Running every minute from ``start``, stopped at ``end``."""
    return [*(Reading(ts, running=True) for ts in range(start, end, MINUTE_MS)), Reading(end, running=False)]


# --- the shift: windows and off-shift parts ------------------------------------------------------------


def test_the_shift_is_read_in_local_time_where_monday_morning_is_sunday_in_utc():
    tokyo = rule(AFTER_HOURS, time_zone="Asia/Tokyo")
    findings = after_hours(run(local(7, 6, 30, TOKYO), local(7, 8, 30, TOKYO)), tokyo)
    assert findings == [
        Finding("builtin:after_hours", AFTER_HOURS, local(7, 6, 30, TOKYO), local(7, 7, 0, TOKYO), 30.0)
    ]


def test_the_shift_closes_at_18_local_time():
    rome = rule(AFTER_HOURS, time_zone="Europe/Rome")
    findings = after_hours(run(local(7, 17, 0, ROME), local(7, 18, 30, ROME)), rome)
    assert findings == [
        Finding("builtin:after_hours", AFTER_HOURS, local(7, 18, 0, ROME), local(7, 18, 30, ROME), 30.0)
    ]


def test_an_evening_run_is_judged_on_its_local_day_where_utc_is_already_the_next_day():
    # New York is UTC-5: Monday 20:00-23:30 there is Tuesday 01:00-04:30 UTC; the shift runs to 23:00.
    new_york = ZoneInfo("America/New_York")
    late_shift = rule(AFTER_HOURS, time_zone="America/New_York", shift=Shift(start=time(7, 0), end=time(23, 0)))
    findings = after_hours(run(local(7, 20, 0, new_york), local(7, 23, 30, new_york)), late_shift)
    assert findings == [
        Finding("builtin:after_hours", AFTER_HOURS, local(7, 23, 0, new_york), local(7, 23, 30, new_york), 30.0)
    ]


def test_a_weekday_run_before_the_shift_or_after_it_is_off_shift_only_for_its_own_length():
    early = after_hours(run(local(8, 5), local(8, 5, 30)), rule(AFTER_HOURS))
    late = after_hours(run(local(8, 19), local(8, 19, 30)), rule(AFTER_HOURS))
    assert early == [Finding("builtin:after_hours", AFTER_HOURS, local(8, 5), local(8, 5, 30), 30.0)]
    assert late == [Finding("builtin:after_hours", AFTER_HOURS, local(8, 19), local(8, 19, 30), 30.0)]


def test_off_shift_segments_are_the_run_minus_the_working_windows():
    shift = Shift()
    assert off_shift_segments(local(7, 7), local(7, 9), shift, UTC) == []  # from the opening
    assert off_shift_segments(local(7, 9), local(7, 18), shift, UTC) == []  # up to the closing
    assert off_shift_segments(local(7, 6), local(7, 19), shift, UTC) == [
        (local(7, 6), local(7, 7)),
        (local(7, 18), local(7, 19)),
    ]
    overnight = off_shift_segments(local(7, 17), local(8, 8), shift, UTC)  # Monday 17:00 to Tuesday 08:00
    assert overnight == [(local(7, 18), local(8, 7))]
    weekend = off_shift_segments(local(4, 17), local(7, 8), shift, UTC)  # Friday 17:00 to Monday 08:00
    assert weekend == [(local(4, 18), local(7, 7))]


def test_shift_windows_are_the_working_days_touched_in_order_and_an_empty_shift_has_none():
    windows = list(shift_windows(local(4, 12), local(8, 12), Shift(), UTC))  # Friday noon to Tuesday noon
    assert windows == [(local(4, 7), local(4, 18)), (local(7, 7), local(7, 18)), (local(8, 7), local(8, 18))]
    assert list(shift_windows(local(7, 0), local(8, 23), Shift(start=time(7, 0), end=time(7, 0)), UTC)) == []


@property_settings(100)
@given(st.integers(0, 6 * 24 * 60), st.integers(0, 3 * 24 * 60), st.sampled_from([UTC, ROME, TOKYO]))
def test_off_shift_segments_and_the_windows_tile_the_run(start_minute, length_minutes, zone):
    start = local(3, 0) + start_minute * MINUTE_MS
    end = start + length_minutes * MINUTE_MS
    segments = off_shift_segments(start, end, Shift(), zone)
    inside = sum(
        max(0, min(closes, end) - max(opens, start)) for opens, closes in shift_windows(start, end, Shift(), zone)
    )
    assert all(start <= a < b <= end for a, b in segments)
    assert all(b < c for (_, b), (c, _) in itertools.pairwise(segments))
    assert sum(b - a for a, b in segments) + inside == end - start


# --- running spans -----------------------------------------------------------------------------------


def test_readings_exactly_60_minutes_apart_do_not_break_a_run():
    one_hour = [Reading(MONDAY_9, running=True), Reading(MONDAY_9 + HOUR_MS, running=True)]
    assert running_spans([*one_hour, Reading(MONDAY_9 + HOUR_MS + MINUTE_MS, running=False)]) == [
        (MONDAY_9, MONDAY_9 + HOUR_MS + MINUTE_MS, False)
    ]


def test_a_data_gap_ends_a_run_at_its_last_reading_and_the_next_reading_starts_another():
    readings = [Reading(MONDAY_9, running=True), Reading(MONDAY_9 + HOUR_MS + 1, running=True)]
    assert running_spans(readings) == [
        (MONDAY_9, MONDAY_9, False),
        (MONDAY_9 + HOUR_MS + 1, MONDAY_9 + HOUR_MS + 1, True),
    ]


def test_a_run_broken_by_a_data_gap_is_over_not_ongoing():
    saturday = local(5, 9)
    readings = [*run(saturday, saturday + 20 * MINUTE_MS)[:-1], Reading(saturday + 3 * HOUR_MS, running=True)]
    findings = after_hours(readings, rule(AFTER_HOURS))
    assert findings == [Finding("builtin:after_hours", AFTER_HOURS, saturday, saturday + 19 * MINUTE_MS, 19.0)]


# --- engine hours per local day, over_baseline ---------------------------------------------------------


def meter(start: int, step_ms: int, hours: list[float]) -> list[Reading]:
    return [Reading(start + i * step_ms, hours=h) for i, h in enumerate(hours)]


def test_over_baseline_counts_the_local_day_from_local_midnight():
    # 00:00-09:00 in Rome is 23:00-08:00 UTC: 9 h on Tuesday in Rome (1 h + 8 h by UTC days).
    tuesday = meter(local(8, 0, 0, ROME), HOUR_MS, [100.0 + h for h in range(10)])
    findings = over_baseline(tuesday, rule(OVER_BASELINE, time_zone="Europe/Rome"))
    assert findings == [Finding("builtin:over_baseline", OVER_BASELINE, local(8, 0, 0, ROME), None, 9.0)]


def test_the_day_is_over_at_a_reading_exactly_at_the_next_local_midnight():
    tuesday = meter(local(8, 0, 0, ROME), HOUR_MS, [100.0 + h for h in range(10)])
    midnight = Reading(local(9, 0, 0, ROME), hours=109.0)
    (finding,) = over_baseline([*tuesday, midnight], rule(OVER_BASELINE, time_zone="Europe/Rome"))
    assert finding.end == local(9, 0, 0, ROME)
    (still_on,) = over_baseline(
        [*tuesday, Reading(midnight.timestamp - 1, hours=109.0)], rule(OVER_BASELINE, time_zone="Europe/Rome")
    )
    assert still_on.end is None


def test_engine_hours_across_local_midnight_are_split_in_proportion_to_time():
    readings = [Reading(local(7, 23, 0, ROME), hours=100.0), Reading(local(8, 1, 0, ROME), hours=102.0)]
    assert daily_engine_hours(readings, ROME) == {local(7, 0, 0, ROME): 1.0, local(8, 0, 0, ROME): 1.0}


def test_a_day_watched_with_the_engine_never_running_has_zero_engine_hours():
    parked = meter(MONDAY_9, HOUR_MS, [100.0, 100.0, 100.0])
    assert daily_engine_hours(parked, UTC) == {local(7, 0): 0.0}


def test_small_meter_steps_add_up():
    quarter_hours = meter(MONDAY_9, 15 * MINUTE_MS, [100.0 + 0.25 * i for i in range(37)])  # 9 h of 0.25 h
    assert daily_engine_hours(quarter_hours, UTC) == {local(7, 0): 9.0}


def test_an_increase_up_to_the_elapsed_time_plus_a_quarter_hour_counts_and_beyond_it_not():
    # Seven hours of 1 h, then 1.25 h in an hour (the tolerance's edge): 8.25 h, over the 8 h baseline.
    edge = meter(MONDAY_9, HOUR_MS, [100.0 + h for h in range(8)] + [108.25])
    assert over_baseline(edge, rule(OVER_BASELINE)) == [
        Finding("builtin:over_baseline", OVER_BASELINE, local(7, 0), None, 8.25)
    ]
    beyond = meter(MONDAY_9, HOUR_MS, [100.0, 101.3] + [101.3 + h for h in range(1, 8)])  # 1.3 h in an hour first
    assert daily_engine_hours(beyond, UTC) == {local(7, 0): 7.0}
    assert over_baseline(beyond, rule(OVER_BASELINE)) == []


def test_the_meter_going_down_counts_nothing_and_the_count_goes_on_after_it():
    readings = meter(MONDAY_9, HOUR_MS, [100.0, 101.0, 100.5, 101.5, 102.5])
    assert daily_engine_hours(readings, UTC) == {local(7, 0): 3.0}


def test_the_day_hours_are_rounded_to_6_decimals():
    readings = meter(local(8, 0), 9 * HOUR_MS, [100.0, 108.1234567])
    (finding,) = over_baseline(readings, rule(OVER_BASELINE))
    assert finding.value == 8.123457


# --- site_exit -------------------------------------------------------------------------------------------


QUARRY = rule(SITE_EXIT, scope=SITE, scope_value="quarry")


def at(minute: float) -> int:
    return MONDAY_9 + int(minute * MINUTE_MS)


def test_a_site_exit_spans_from_the_first_reading_outside_to_the_first_back_in():
    outside = [Reading(at(m), pois=()) for m in (1, 2, 7)]
    readings = [Reading(at(0), pois=("quarry",)), *outside, Reading(at(8), pois=("quarry",))]
    assert site_exit(readings, QUARRY) == [Finding("builtin:site_exit", SITE_EXIT, at(1), at(8), 7.0, "quarry")]


def test_an_ongoing_site_exit_counts_to_its_newest_reading_outside():
    readings = [Reading(at(0), pois=("quarry",)), *(Reading(at(m), pois=("road",)) for m in (1, 2, 7))]
    assert site_exit(readings, QUARRY) == [Finding("builtin:site_exit", SITE_EXIT, at(1), None, 6.0, "quarry")]
    assert site_exit([Reading(at(m), pois=()) for m in (1, 5.99)], QUARRY) == []  # 4.99 min outside


# --- moved_while_off -------------------------------------------------------------------------------------


def off(minute: float, latitude: float | None = 45.0) -> Reading:
    return Reading(at(minute), running=False, latitude=latitude, longitude=None if latitude is None else 9.0)


def test_moved_while_off_is_one_finding_from_the_first_reading_beyond_with_the_largest_distance():
    readings = [off(0), off(1, 45.0019), off(2, 45.0025), off(3, 45.0019)]
    far = round(distance_m(45.0, 9.0, 45.0025, 9.0), 1)  # 278.0 m (211.3 m at minute 1)
    assert moved_while_off(readings, rule(MOVED_WHILE_OFF)) == [
        Finding("builtin:moved_while_off", MOVED_WHILE_OFF, at(1), None, far)
    ]
    started = Reading(at(4), running=True, latitude=45.0019, longitude=9.0)
    assert moved_while_off([*readings[:2], started], rule(MOVED_WHILE_OFF)) == [
        Finding("builtin:moved_while_off", MOVED_WHILE_OFF, at(1), at(4), 211.3)
    ]


def test_exactly_the_threshold_away_is_not_moved():
    limit = distance_m(45.0, 9.0, 45.0019, 9.0)
    readings = [off(0), off(1, 45.0019)]
    assert moved_while_off(readings, rule(MOVED_WHILE_OFF, threshold=limit)) == []
    assert len(moved_while_off(readings, rule(MOVED_WHILE_OFF, threshold=limit - 0.001))) == 1


def test_each_stop_is_judged_from_its_own_anchor_and_readings_without_position_are_skipped():
    # With a 0 m threshold any displacement counts: 0.5 m in the first stop, 0.3 m in the second.
    anywhere = rule(MOVED_WHILE_OFF, threshold=0.0)
    first = [off(0), Reading(at(1), running=None, latitude=46.0, longitude=9.0), off(2, None), off(3, 45.0000045)]
    second = [Reading(at(4), running=True), off(5, 45.01), off(6, 45.0100027)]
    assert moved_while_off([*first, *second], anywhere) == [
        Finding("builtin:moved_while_off", MOVED_WHILE_OFF, at(3), at(4), 0.5),
        Finding("builtin:moved_while_off", MOVED_WHILE_OFF, at(6), None, 0.3),
    ]


# --- low_fuel ------------------------------------------------------------------------------------------


def levels(values: dict[float, float | None]) -> list[Reading]:
    return [Reading(at(minute), level_pct=level) for minute, level in values.items()]


def test_low_fuel_for_exactly_10_minutes_then_refilled_is_a_closed_finding_of_10_minutes():
    readings = levels({**{m: 14.0 for m in range(10)}, 10: 15.0})
    assert low_fuel(readings, rule(LOW_FUEL)) == [Finding("builtin:low_fuel", LOW_FUEL, at(0), at(10), 10.0)]
    assert low_fuel(levels({**{m: 14.0 for m in range(9)}, 9: 50.0}), rule(LOW_FUEL)) == []  # 9 minutes


def test_an_ongoing_low_fuel_counts_to_its_newest_low_reading_and_unknown_levels_are_skipped():
    readings = levels({0: 14.0, 5: None, 6: 10.0, 12: 12.0})
    assert low_fuel(readings, rule(LOW_FUEL)) == [Finding("builtin:low_fuel", LOW_FUEL, at(0), None, 12.0)]


# --- meter_anomaly ---------------------------------------------------------------------------------------


def test_a_stopped_meter_or_a_normal_increase_is_no_anomaly_and_a_later_jump_is_found():
    readings = meter(MONDAY_9, HOUR_MS, [100.0, 100.0, 100.5, 103.0])
    assert meter_anomaly(readings, rule(METER_ANOMALY)) == [
        Finding(
            "builtin:meter_anomaly",
            METER_ANOMALY,
            MONDAY_9 + 3 * HOUR_MS,
            MONDAY_9 + 3 * HOUR_MS,
            2.5,
            "faster than time",
        )
    ]


def test_the_meter_change_is_rounded_to_6_decimals():
    readings = meter(MONDAY_9, HOUR_MS, [100.0, 99.1234567])
    assert meter_anomaly(readings, rule(METER_ANOMALY)) == [
        Finding("builtin:meter_anomaly", METER_ANOMALY, MONDAY_9 + HOUR_MS, MONDAY_9 + HOUR_MS, -0.876543, "down")
    ]
