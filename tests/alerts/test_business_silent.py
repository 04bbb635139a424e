"""Silent machines (pure): the timestamps kept per machine, the silence limit max(floor, 3 x the
median interval) and the silent finding with its 24-hour no-repeat."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from equipment_alerts.business import DAY_MS, HOUR_MS, MINUTE_MS, SILENT, Finding, RuleConfig
from equipment_alerts.business_silent import MAX_TIMESTAMPS, kept_timestamps, silence_limit_ms, silent_finding
from tests.properties import property_settings

NOON = 1_796_558_400_000  # 2026-12-06 12:00 UTC
SILENT_RULE = RuleConfig(key="builtin:silent", kind=SILENT)


def test_kept_timestamps_are_the_distinct_union_of_old_and_new_sorted():
    assert kept_timestamps([NOON, NOON - 5 * MINUTE_MS], [NOON + MINUTE_MS, NOON]) == [
        NOON - 5 * MINUTE_MS,
        NOON,
        NOON + MINUTE_MS,
    ]
    assert kept_timestamps([], [NOON]) == [NOON]
    assert kept_timestamps([NOON], []) == [NOON]
    assert kept_timestamps([], []) == []


def test_kept_timestamps_reach_exactly_7_days_behind_the_newest():
    week = 7 * DAY_MS
    assert kept_timestamps([NOON - week - 1, NOON - week], [NOON]) == [NOON - week, NOON]


def test_kept_timestamps_keep_the_newest_4000():
    minutes = [NOON - i * MINUTE_MS for i in range(MAX_TIMESTAMPS + 10)]
    kept = kept_timestamps(minutes, [])
    assert kept == sorted(minutes)[-MAX_TIMESTAMPS:] and len(kept) == MAX_TIMESTAMPS and kept[-1] == NOON


@property_settings(100)
@given(st.lists(st.integers(0, 10 * DAY_MS)), st.lists(st.integers(0, 10 * DAY_MS)))
def test_kept_timestamps_are_the_distinct_times_of_the_week_up_to_the_newest(old, new):
    kept = kept_timestamps(old, new)
    everything = set(old) | set(new)
    assert kept == sorted(kept) and len(set(kept)) == len(kept) and set(kept) <= everything
    if everything:
        newest = max(everything)
        assert kept[-1] == newest
        assert set(kept) == {ts for ts in everything if ts >= newest - 7 * DAY_MS}  # fewer than 4000 here


def test_the_limit_is_3_times_the_median_interval_above_the_floor():
    two_hourly = [NOON + i * 2 * HOUR_MS for i in range(5)]
    assert silence_limit_ms(two_hourly) == 6 * HOUR_MS
    assert silence_limit_ms(two_hourly, floor_hours=7.0) == 7 * HOUR_MS
    assert silence_limit_ms([NOON]) == 4 * HOUR_MS  # no interval: the floor


def test_repeated_timestamps_are_no_interval_of_zero():
    # 0, 0, 0 and 2 h would have a median of 0 (the floor, 4 h); the one real interval gives 6 h.
    assert silence_limit_ms([NOON, NOON, NOON, NOON + 2 * HOUR_MS]) == 6 * HOUR_MS


def test_a_silent_finding_starts_at_the_newest_reading_and_counts_hours_silent():
    newest = NOON - 4 * HOUR_MS - 20_000  # 4 h 20 s ago: 4.00556 h
    finding = silent_finding(SILENT_RULE, newest, [newest - HOUR_MS, newest], NOON, None)
    assert finding == Finding("builtin:silent", SILENT, newest, None, 4.006)


def test_silent_at_exactly_the_limit_and_not_a_millisecond_before():
    newest = NOON - 4 * HOUR_MS
    assert silent_finding(SILENT_RULE, newest, [newest], NOON, None) is not None
    assert silent_finding(SILENT_RULE, newest + 1, [newest + 1], NOON, None) is None


def test_the_rule_threshold_is_the_floor_of_the_limit():
    two_hour_floor = RuleConfig(key="rule:7", kind=SILENT, threshold=2.0)
    newest = NOON - 3 * HOUR_MS
    finding = silent_finding(two_hour_floor, newest, [newest], NOON, None)
    assert finding == Finding("rule:7", SILENT, newest, None, 3.0)
    assert silent_finding(SILENT_RULE, newest, [newest], NOON, None) is None


def test_not_repeated_within_24_hours_of_the_previous_silent_alert():
    newest = NOON - 5 * HOUR_MS
    assert silent_finding(SILENT_RULE, newest, [newest], NOON, NOON - DAY_MS + 1) is None
    assert silent_finding(SILENT_RULE, newest, [newest], NOON, NOON - DAY_MS) is not None
