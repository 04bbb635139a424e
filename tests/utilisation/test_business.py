"""The definitions of issue 27 on generated traces (pure functions, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_utilisation.business import (
    IDLE,
    NO_DATA,
    OFF,
    STATIONARY,
    WORKING,
    UtilisationRules,
    day_bounds,
    sample_from_record,
    timeline,
)
from equipment_utilisation.business_calendar import Calendar, UtilisationConfig, summarise
from equipment_utilisation.business_rows import recompute_rows
from tests.properties import property_settings
from tests.utilisation.fleet import HOUR_MS, MINUTE_MS, Trace, ms

RULES = UtilisationRules()
CONFIG = UtilisationConfig(
    classes={"excavator": "stationary", "dumper": "motion", "other": "motion"},
    model_classes={"320": "excavator", "b30e": "dumper"},
    default_zone="Europe/Rome",
)


def rows(trace: Trace, config: UtilisationConfig = CONFIG) -> dict[str, dict]:
    samples = [sample_from_record(record) for record in trace.readings]
    return {row["date"]: row for row in recompute_rows(trace.machine, trace.model, samples, config, RULES)}


def runs(trace: Trace, day: str, judged_by: str) -> list[tuple[str, float]]:
    samples = [sample_from_record(record) for record in trace.readings]
    start, end = day_bounds(day, "Europe/Rome")
    return [(run.state, round(run.hours, 4)) for run in timeline(samples, start, end, judged_by, RULES)]


def static_morning(model: str) -> Trace:
    """Engine on and still 10:00-12:00 (hours 100 -> 102), off an hour either side."""
    trace = Trace("M1", model, ms("2026-03-10 09:00"))
    return trace.run("off", HOUR_MS).run("idle", 2 * HOUR_MS).run("off", HOUR_MS)


def test_an_excavator_running_static_for_two_hours_is_stationary_running_not_idle():
    row = rows(static_morning("320"))["2026-03-10"]
    assert row["engine_hours"] == pytest.approx(2.0, abs=1e-5)
    assert row["hours"]["idle"] == 0 and row["hours"]["stationary"] == pytest.approx(2.0, abs=1e-5)
    assert row["machine_class"] == "excavator" and row["idle_runs"] == {"3_6": 0, "6_9": 0, "over_9": 0}
    assert (STATIONARY, 2.0) in runs(static_morning("320"), "2026-03-10", "stationary")


def test_the_same_trace_on_a_dumper_is_two_hours_idle_in_one_long_run():
    row = rows(static_morning("B30E"))["2026-03-10"]
    assert row["engine_hours"] == pytest.approx(2.0, abs=1e-5)
    assert row["hours"]["idle"] == pytest.approx(2.0, abs=1e-5) and row["hours"]["stationary"] == 0
    assert row["idle_runs"] == {"3_6": 0, "6_9": 0, "over_9": 1}
    day = runs(static_morning("B30E"), "2026-03-10", "motion")
    assert [run for run in day if run[0] == IDLE] == [(IDLE, 2.0)]
    assert [state for state, _ in day] == [NO_DATA, OFF, IDLE, OFF, NO_DATA]


def test_of_runs_of_150_and_200_seconds_only_the_200_second_one_is_idle():
    trace = Trace("D1", "B30E", ms("2026-03-10 10:00"))
    trace.run("work", 10 * MINUTE_MS).run("idle", 150_000, step_ms=150_000).run("work", 10 * MINUTE_MS)
    trace.run("idle", 200_000, step_ms=200_000).run("work", 10 * MINUTE_MS)
    row = rows(trace)["2026-03-10"]
    assert row["hours"]["idle"] == pytest.approx(200 / 3600, abs=1e-5)
    assert row["idle_runs"] == {"3_6": 1, "6_9": 0, "over_9": 0}
    assert row["hours"]["working"] == pytest.approx((30 * 60 + 150) / 3600, abs=1e-5)


def test_a_75_minute_gap_is_one_and_a_quarter_hours_of_no_data_not_idle():
    trace = Trace("D1", "B30E", ms("2026-03-10 10:00"))
    trace.run("idle", 30 * MINUTE_MS).silence(75 * MINUTE_MS, running=True).run("idle", 30 * MINUTE_MS)
    day = runs(trace, "2026-03-10", "motion")
    assert day[1:4] == [(IDLE, 0.5), (NO_DATA, 1.25), (IDLE, 0.5)]
    assert rows(trace)["2026-03-10"]["engine_hours"] == pytest.approx(2.25, abs=1e-5)  # the counter still counts


def test_six_hours_a_weekday_and_four_on_saturday_is_85_percent_and_20_2_percent_of_the_calendar():
    trace = Trace("E1", "320", ms("2026-03-09 00:00"), step_ms=15 * MINUTE_MS)  # a Monday
    for weekday in range(7):
        worked = 6 if weekday < 5 else 4 if weekday == 5 else 0
        trace.run("off", 8 * HOUR_MS).run("work", worked * HOUR_MS).run("off", (16 - worked) * HOUR_MS)
    daily = list(rows(trace).values())
    [week] = summarise(daily, "2026-03-09", "2026-03-15", "week", CONFIG)
    assert week.engine_hours == pytest.approx(34.0, abs=1e-5) and week.available_hours == 40.0
    assert round(100 * week.utilisation, 1) == 85.0
    assert round(100 * week.calendar_utilisation, 1) == 20.2
    assert week.fuel_per_hour == pytest.approx(10.0, abs=1e-5)


def test_a_dst_day_has_25_hours_and_still_8_available_hours():
    everyday = Calendar("everyday", hours=(8.0,) * 7)
    config = UtilisationConfig(**{**CONFIG.__dict__, "calendars": {"standard": everyday}})
    trace = Trace("E1", "320", ms("2026-10-25 06:00"), step_ms=30 * MINUTE_MS).run("work", 4 * HOUR_MS)
    row = rows(trace, config)["2026-10-25"]
    assert sum(row["hours"].values()) == pytest.approx(25.0, abs=1e-5)
    assert row["available_hours"] == 8.0 and row["engine_hours"] == pytest.approx(4.0, abs=1e-5)


def test_a_holiday_has_no_available_hours_and_utilisation_is_none():
    config = UtilisationConfig(**{**CONFIG.__dict__, "holidays": frozenset({"2026-03-10"})})
    daily = list(rows(static_morning("320"), config).values())
    [day] = summarise(daily, "2026-03-10", "2026-03-10", "day", config)
    assert day.available_hours == 0 and day.utilisation is None and day.engine_hours == pytest.approx(2.0, abs=1e-5)


def test_a_day_is_cut_at_local_midnight_and_each_side_has_its_part():
    trace = Trace("D1", "B30E", ms("2026-03-10 23:00")).run("work", 2 * HOUR_MS)
    split = rows(trace)
    assert split["2026-03-10"]["engine_hours"] == pytest.approx(1.0, abs=1e-5)
    assert split["2026-03-11"]["engine_hours"] == pytest.approx(1.0, abs=1e-5)


# -- generated traces -------------------------------------------------------------------------------

modes = st.lists(
    st.tuples(st.sampled_from(["work", "idle", "off", "gap"]), st.integers(1, 240), st.sampled_from([1, 2, 5, 15])),
    min_size=1,
    max_size=25,
)


def generated(plan: list[tuple[str, int, int]], model: str) -> Trace:
    trace = Trace("G1", model, ms("2026-03-10 20:00"))
    for mode, minutes, step in plan:
        if mode == "gap":
            trace.silence(minutes * MINUTE_MS)
        else:
            trace.run(mode, minutes * MINUTE_MS, step_ms=step * MINUTE_MS)
    return trace


@property_settings(60, deadline=None)
@given(plan=modes, model=st.sampled_from(["320", "B30E"]))
def test_every_day_adds_up_to_its_length_and_engine_hours_never_exceed_the_running_time(plan, model):
    trace = generated(plan, model)
    for day, row in rows(trace).items():
        start, end = day_bounds(day, "Europe/Rome")
        assert sum(row["hours"].values()) == pytest.approx((end - start) / HOUR_MS, abs=1e-5)
        assert all(value >= -1e-9 for value in row["hours"].values())
        running = row["hours"]["working"] + row["hours"]["idle"] + row["hours"]["stationary"]
        assert row["engine_hours"] <= running + row["hours"]["no_data"] + 1e-6
        if model == "320":
            assert row["hours"]["idle"] == 0
        else:
            assert row["hours"]["stationary"] == 0
        runs_of_day = runs(trace, day, "stationary" if model == "320" else "motion")
        assert runs_of_day[0][0] in (NO_DATA, WORKING, OFF, IDLE, STATIONARY)
        assert sum(hours for _, hours in runs_of_day) == pytest.approx((end - start) / HOUR_MS, abs=1e-3)


@property_settings(40, deadline=None)
@given(plan=modes, seed=st.randoms(use_true_random=False))
def test_the_rows_do_not_depend_on_the_order_samples_arrive_in_nor_on_duplicates(plan, seed):
    trace = generated(plan, "B30E")
    samples = [sample_from_record(record) for record in trace.readings]
    shuffled = samples + samples[: len(samples) // 3]
    seed.shuffle(shuffled)
    assert recompute_rows("G1", "B30E", shuffled, CONFIG, RULES) == recompute_rows("G1", "B30E", samples, CONFIG, RULES)
