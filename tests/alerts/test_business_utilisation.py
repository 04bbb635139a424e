"""excessive_idle and low_util (pure): an idle run over 30 minutes, a local day idle over 30 % of
its engine hours (days with at least one engine hour), a 7-day utilisation under 35 %; both sides
of each boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import EXCESSIVE_IDLE, HOUR_MS, LOW_UTIL, MINUTE_MS, Finding, Reading, RuleConfig
from equipment_alerts.business_utilisation import (
    DAY_SHARE,
    excessive_idle,
    local_days,
    low_util_finding,
    sample_of,
    seven_day_utilisation,
)
from equipment_utilisation.business import Sample
from tests.properties import property_settings

MONDAY = int(datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000)  # 00:00 UTC
MONDAY_8 = MONDAY + 8 * HOUR_MS
IDLE_RULE = RuleConfig("builtin:excessive_idle", EXCESSIVE_IDLE)
LOW_RULE = RuleConfig("builtin:low_util", LOW_UTIL)
ROME = ZoneInfo("Europe/Rome")
QUARTER = 15 * MINUTE_MS


def utc_ms(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp() * 1000)


def test_a_reading_is_judged_as_utilisations_sample_at_its_first_site():
    reading = Reading(5, 1.5, 2.5, True, 45.0, 9.0, ("quarry", "road"), 40.0, 12.5)
    assert sample_of(reading) == Sample(5, 1.5, 2.5, True, 45.0, 9.0, 12.5, "quarry")
    assert sample_of(Reading(5, pois=())).site is None and sample_of(Reading(5, pois=None)).site is None


def test_local_days_cover_first_to_last_and_are_23_hours_on_the_spring_dst_day():
    first, last = utc_ms(2026, 3, 27, 23, 30), utc_ms(2026, 3, 29, 23)  # 28 March 00:30 to 30 March 01:00 in Rome
    assert local_days(first, last, ROME) == [
        (utc_ms(2026, 3, 27, 23), utc_ms(2026, 3, 28, 23)),
        (utc_ms(2026, 3, 28, 23), utc_ms(2026, 3, 29, 22)),
        (utc_ms(2026, 3, 29, 22), utc_ms(2026, 3, 30, 22)),
    ]
    assert local_days(first, first, ZoneInfo("UTC")) == [(utc_ms(2026, 3, 27), utc_ms(2026, 3, 28))]


# --- excessive_idle: runs -------------------------------------------------------------------------------


def idle(start: int, length_ms: int, *, last_running: bool | None = False) -> list[Reading]:
    """Engine on in one place from ``start`` for ``length_ms`` (a reading a minute), then a last
    reading with ``last_running``: the idle run is exactly ``length_ms`` long."""
    on = [
        Reading(start + m * MINUTE_MS, hours=100 + m / 60, running=True, latitude=45.0, longitude=9.0)
        for m in range(-(-length_ms // MINUTE_MS))
    ]
    hours = 100 + length_ms / HOUR_MS
    last = Reading(start + length_ms, hours=hours, running=last_running, latitude=45.0, longitude=9.0)
    return [*on, last]


def test_an_idle_run_longer_than_30_minutes_is_a_finding_and_exactly_30_is_none():
    assert excessive_idle(idle(MONDAY_8, 30 * MINUTE_MS), IDLE_RULE) == []
    (run,) = excessive_idle(idle(MONDAY_8, 30 * MINUTE_MS + 1), IDLE_RULE)
    assert run == Finding(IDLE_RULE.key, EXCESSIVE_IDLE, MONDAY_8, MONDAY_8 + 30 * MINUTE_MS + 1, 30 + 1 / MINUTE_MS)
    (run,) = excessive_idle(idle(MONDAY_8, 31 * MINUTE_MS), IDLE_RULE)
    assert (run.start, run.end, run.value) == (MONDAY_8, MONDAY_8 + 31 * MINUTE_MS, 31.0)


def test_an_idle_run_across_midnight_is_two_runs_each_judged_on_its_own():
    midnight = MONDAY + 24 * HOUR_MS
    before = Reading(midnight - 45 * MINUTE_MS, hours=100.0, running=True, latitude=45.0, longitude=9.0)
    after = [
        Reading(midnight + m * MINUTE_MS, hours=100.75 + m / 60, running=True, latitude=45.0, longitude=9.0)
        for m in range(0, 41, 5)
    ]
    first_day, second_day = excessive_idle([before, *after], IDLE_RULE)
    assert (first_day.start, first_day.end, first_day.value) == (before.timestamp, midnight, 45.0)
    assert (second_day.start, second_day.end, second_day.value) == (midnight, None, 40.0)


def test_the_rules_duration_sets_the_longest_idle_run():
    ten_minutes = RuleConfig("rule:3", EXCESSIVE_IDLE, duration_min=10.0)
    assert excessive_idle(idle(MONDAY_8, 10 * MINUTE_MS), ten_minutes) == []
    assert [f.value for f in excessive_idle(idle(MONDAY_8, 11 * MINUTE_MS), ten_minutes)] == [11.0]


def test_a_run_up_to_the_newest_reading_stays_open_unless_the_engine_is_off_there():
    for last_running in (True, None):  # on, or not known: it may go on
        (run,) = excessive_idle(idle(MONDAY_8, 40 * MINUTE_MS, last_running=last_running), IDLE_RULE)
        assert (run.start, run.end, run.value) == (MONDAY_8, None, 40.0)
    (run,) = excessive_idle(idle(MONDAY_8, 40 * MINUTE_MS, last_running=False), IDLE_RULE)
    assert run.end == MONDAY_8 + 40 * MINUTE_MS


def test_a_run_the_machine_drove_off_from_is_over_though_the_engine_still_runs():
    drove_off = Reading(MONDAY_8 + 41 * MINUTE_MS, hours=100 + 41 / 60, running=True, latitude=45.01, longitude=9.0)
    readings = [*idle(MONDAY_8, 40 * MINUTE_MS, last_running=True), drove_off]
    (run,) = excessive_idle(readings, IDLE_RULE)
    assert (run.start, run.end, run.value) == (MONDAY_8, MONDAY_8 + 40 * MINUTE_MS, 40.0)


def test_two_readings_are_enough_and_one_is_nothing():
    pair = [Reading(MONDAY_8, hours=100.0, running=True), Reading(MONDAY_8 + 45 * MINUTE_MS, hours=100.75)]
    (run,) = excessive_idle(pair, IDLE_RULE)
    assert (run.start, run.end, run.value) == (MONDAY_8, None, 45.0)
    assert excessive_idle(pair[:1], IDLE_RULE) == [] and excessive_idle([], IDLE_RULE) == []


# --- excessive_idle: the daily idle share -------------------------------------------------------------------


def day_of(start: int, pattern: str) -> list[Reading]:
    """Quarter hours from ``start``, engine on: "I" idle in one place, "M" moving 111 m; then the
    engine off. Each quarter hour is 0.25 engine hours, so shares are exact."""
    readings, latitude = [], 45.0
    for i, quarter in enumerate(pattern):
        readings.append(Reading(start + i * QUARTER, hours=100 + i / 4, running=True, latitude=latitude, longitude=9.0))
        latitude += 0.001 if quarter == "M" else 0.0
    end = start + len(pattern) * QUARTER
    return [*readings, Reading(end, hours=100 + len(pattern) / 4, running=False, latitude=latitude, longitude=9.0)]


def test_a_day_idle_over_30_percent_of_its_engine_hours_is_a_finding_and_exactly_30_is_none():
    assert excessive_idle(day_of(MONDAY_8, "IMIMIMMMMM"), IDLE_RULE) == []  # 0.75 of 2.5 h: 30 %
    (day,) = excessive_idle(day_of(MONDAY_8, "IMIMIMMMM"), IDLE_RULE)  # 0.75 of 2.25 h
    assert day == Finding(IDLE_RULE.key + DAY_SHARE, EXCESSIVE_IDLE, MONDAY, None, 33.333, "daily idle share")
    assert day.rule == "builtin:excessive_idle/day"
    assert excessive_idle(day_of(MONDAY_8, "MMMMMMMM"), IDLE_RULE) == []  # two hours' work, no idle


def test_the_daily_share_needs_one_engine_hour():
    (day,) = excessive_idle(day_of(MONDAY_8, "IMIM"), IDLE_RULE)  # 0.5 of exactly 1 h
    assert day.value == 50.0
    assert excessive_idle(day_of(MONDAY_8, "IMI"), IDLE_RULE) == []  # 0.5 of 0.75 h


def test_the_rules_threshold_sets_the_daily_share():
    half = RuleConfig("rule:4", EXCESSIVE_IDLE, threshold=50.0)
    assert excessive_idle(day_of(MONDAY_8, "IMIM"), half) == []
    assert [f.value for f in excessive_idle(day_of(MONDAY_8, "IMIMI"), half)] == [60.0]


def test_the_daily_share_ends_at_local_midnight_once_a_reading_has_reached_it():
    midnight = MONDAY + 24 * HOUR_MS
    readings = day_of(midnight - 4 * QUARTER, "IMIM")
    assert readings[-1].timestamp == midnight
    (day,) = excessive_idle(readings, IDLE_RULE)
    assert (day.start, day.end) == (MONDAY, midnight)
    earlier = [Reading(r.timestamp - 1, r.hours, r.km, r.running, r.latitude, r.longitude) for r in readings]
    (day,) = excessive_idle(earlier, IDLE_RULE)
    assert (day.start, day.end) == (MONDAY, None)


def test_the_day_is_the_rules_local_day():
    rome = RuleConfig("rule:5", EXCESSIVE_IDLE, time_zone="Europe/Rome")
    start = utc_ms(2026, 11, 30, 23, 15)  # 1 December 00:15 in Rome, still 30 November in UTC
    (day,) = excessive_idle(day_of(start, "IMIM"), rome)
    assert (day.start, day.end) == (utc_ms(2026, 11, 30, 23), None)
    # In UTC the same quarter hours fall on two days of under an engine hour each.
    assert excessive_idle(day_of(start, "IMIM"), IDLE_RULE) == []


# --- low_util -------------------------------------------------------------------------------------------------


def rows(*engine_available: tuple[float | None, float | None]) -> list[dict]:
    return [{"engine_hours": engine, "available_hours": available} for engine, available in engine_available]


def test_seven_day_utilisation_is_engine_over_available_hours_and_none_without_any_available():
    assert seven_day_utilisation(rows((2.0, 8.0), (5.0, 8.0))) == 43.75
    assert seven_day_utilisation([*rows((2.0, 8.0), (None, None)), {}]) == 25.0  # nothing known counts nothing
    assert seven_day_utilisation(rows((0.0, 0.5))) == 0.0
    assert seven_day_utilisation(rows((3.0, 0.0))) is None and seven_day_utilisation([]) is None


def test_low_util_is_under_35_percent_and_exactly_35_is_not():
    assert low_util_finding(LOW_RULE, rows((14.0, 40.0)), 1000, None) is None
    finding = low_util_finding(LOW_RULE, rows((13.0, 40.0)), 1000, None)
    assert finding == Finding(LOW_RULE.key, LOW_UTIL, 1000, None, 32.5, "7-day utilisation %")
    assert low_util_finding(LOW_RULE, rows((1.0, 3.0)), 1000, None).value == 33.333
    assert low_util_finding(LOW_RULE, rows((0.0, 0.0)), 1000, None) is None  # nothing available: not judged
    half = RuleConfig("rule:6", LOW_UTIL, threshold=50.0)
    assert low_util_finding(half, rows((19.0, 40.0)), 1000, None).value == 47.5  # the rule's own threshold


def test_low_util_goes_on_from_the_open_alerts_start():
    assert low_util_finding(LOW_RULE, rows((4.0, 40.0)), 2000, 1000).start == 1000
    assert low_util_finding(LOW_RULE, rows((4.0, 40.0)), 2000, None).start == 2000


@property_settings(100)
@given(st.text(alphabet="IM", max_size=40))
def test_any_day_of_quarter_hours_has_a_run_finding_per_idle_stretch_over_30_min_and_a_share_over_30_percent(pattern):
    findings = excessive_idle(day_of(MONDAY_8, pattern), IDLE_RULE)
    runs = [f for f in findings if f.rule == IDLE_RULE.key]
    stretches = [len(s) for s in pattern.split("M") if len(s) * QUARTER > IDLE_RULE.duration_ms]
    assert [f.value for f in runs] == [15.0 * n for n in stretches]
    shares = [f.value for f in findings if f.rule == IDLE_RULE.key + DAY_SHARE]
    idle_quarters, quarters = pattern.count("I"), len(pattern)
    over = quarters >= 4 and 10 * idle_quarters > 3 * quarters  # at least 1 engine hour, idle over 30 %
    assert shares == ([round(100 * idle_quarters / quarters, 3)] if over else [])
