"""``equipment_utilisation.business`` rule by rule, on hand-made samples (docs/UTILISATION.md,
"Definitions"): a reading to a sample, running or off, no data, stationary runs and their
thresholds, idle runs by length, a day's engine hours, fuel and site, and the days a new sample
touches. Pure: no database."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_utilisation.business import (
    EARTH_RADIUS_M,
    IDLE,
    MOTION,
    NO_DATA,
    OFF,
    OFF_SITE,
    STATIONARY,
    STATIONARY_WORK,
    WORKING,
    Sample,
    UtilisationRules,
    day_bounds,
    day_figures,
    days_touched_by,
    distance_m,
    merge_samples,
    neighbours_window,
    sample_from_record,
    timeline,
)
from tests.factories import telemetry
from tests.properties import property_settings
from tests.utilisation.fleet import HOUR_MS, MINUTE_MS, ms

RULES = UtilisationRules()
DAY = "2026-03-10"  # a Tuesday, Europe/Rome (UTC+1)
START, END = day_bounds(DAY, "Europe/Rome")
LAT, LON = 45.46, 9.19
SECOND_MS = 1_000


def at(clock: str, day: str = DAY) -> int:
    return ms(f"{day} {clock}")


def sample(t: int, **values) -> Sample:
    """A reading on site "Cantiere A", engine on, still at (LAT, LON), counters at 100 h and 5000 km."""
    return Sample(
        **{
            "t": t,
            "hours": 100.0,
            "km": 5000.0,
            "running": True,
            "lat": LAT,
            "lon": LON,
            "site": "Cantiere A",
            **values,
        }
    )


def durations(samples: list[Sample], judged_by: str = MOTION, rules: UtilisationRules = RULES) -> list[tuple]:
    """The day's runs as (state, seconds), back to back from local midnight."""
    return [(run.state, (run.end - run.start) / SECOND_MS) for run in timeline(samples, START, END, judged_by, rules)]


def plan(start: int, steps: list[tuple[str, float]], **values) -> list[Sample]:
    """Samples from ``start`` through ``steps`` of (mode, seconds): "still" (engine on, not moving),
    "move" (engine on, 100 m north and 0.1 km), "off"; a reading at the end of each step."""
    t, hours, km, lat = start, 100.0, 5000.0, LAT
    samples = []
    for mode, seconds in steps:
        samples.append(sample(t, hours=hours, km=km, lat=lat, running=mode != "off", **values))
        t += round(seconds * SECOND_MS)
        hours += 0 if mode == "off" else seconds / 3600
        if mode == "move":
            km, lat = km + 0.1, lat + 0.0009
    samples.append(sample(t, hours=hours, km=km, lat=lat, running=False, **values))
    return samples


# -- a reading to a sample --------------------------------------------------------------------------------


def test_a_record_keeps_its_time_counters_engine_flag_position_fuel_and_first_point_of_interest():
    record = telemetry(
        "D1", at("10:00"), hours=1234.5, km=876.25, running=False, fuel_used=4321.0, latitude=45.5, longitude=9.25,
        pois=["Cantiere B", "Deposito"],
    )  # fmt: skip
    assert sample_from_record(record) == Sample(at("10:00"), 1234.5, 876.25, False, 45.5, 9.25, 4321.0, "Cantiere B")


def test_a_record_without_position_points_of_interest_or_engine_flag_leaves_them_unknown():
    record = telemetry("D1", at("10:00"), latitude=None, longitude=None, pois=[], running=None, km=None)
    assert sample_from_record(record) == Sample(at("10:00"), 100.0, None, None, None, None, 1000.0, None)


def test_a_sample_round_trips_through_its_stored_list():
    one = Sample(at("10:00"), 1.5, 2.5, True, 45.0, 9.0, 3.5, "Cantiere A")
    assert one.as_list() == [at("10:00"), 1.5, 2.5, True, 45.0, 9.0, 3.5, "Cantiere A"]
    assert Sample.from_list(one.as_list()) == one


# -- distance ---------------------------------------------------------------------------------------------


def test_a_degree_of_latitude_is_a_360th_of_a_meridian_circle():
    assert distance_m(45.0, 9.0, 46.0, 9.0) == pytest.approx(2 * math.pi * EARTH_RADIUS_M / 360, rel=1e-12)


def test_antipodal_points_are_half_a_circumference_apart_where_rounding_takes_the_haversine_past_one():
    # at these antipodes the haversine term rounds to 1 + 2**-52: the formula must clamp, not fail
    assert distance_m(-50.06, -97.27, 50.06, 82.73) == pytest.approx(math.pi * EARTH_RADIUS_M, rel=1e-12)


@property_settings(100)
@given(
    lat1=st.floats(-80, 80), lon1=st.floats(-180, 180), lat2=st.floats(-80, 80), lon2=st.floats(-180, 180)
)  # fmt: skip
def test_the_distance_agrees_with_the_spherical_law_of_cosines(lat1, lon1, lat2, lon2):
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cosine = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    expected = EARTH_RADIUS_M * math.acos(max(-1.0, min(1.0, cosine)))
    assert distance_m(lat1, lon1, lat2, lon2) == pytest.approx(expected, abs=2.0)  # acos loses ~0.1 m near 0


# -- running, off, no data ----------------------------------------------------------------------------------


def test_an_interval_of_exactly_the_gap_is_data_and_a_millisecond_more_is_no_data():
    exact = [sample(at("10:00")), sample(at("11:00"), hours=101.0, lat=LAT + 0.01)]
    assert durations(exact) == [(NO_DATA, 10 * 3600), (WORKING, 3600), (NO_DATA, 13 * 3600)]
    longer = [sample(at("10:00")), sample(at("11:00") + 1, hours=101.0, lat=LAT + 0.01)]
    assert durations(longer) == [(NO_DATA, 24 * 3600)]  # one run: the gap joins the day's uncovered time


@pytest.mark.parametrize(
    "running, hours_after, state",
    [
        (True, 100.0, WORKING),  # the engine flag wins over a counter that did not move
        (False, 100.5, OFF),  # ... and over one that did
        (None, 100.5, WORKING),  # no flag: the hours counter rose
        (None, 100.0, OFF),  # no flag and a counter that stood still
        (None, None, OFF),  # nothing tells: off
    ],
)
def test_an_interval_is_running_by_its_first_readings_flag_else_by_the_hours_counter(running, hours_after, state):
    moved = LAT + 0.01  # a kilometre: never a stationary run
    samples = [
        sample(at("10:00"), running=running, km=None),
        sample(at("10:30"), hours=hours_after, km=None, lat=moved),
    ]
    assert durations(samples) == [(NO_DATA, 10 * 3600), (state, 1800), (NO_DATA, 13.5 * 3600)]


def test_a_reading_at_midnight_starts_the_day_with_no_empty_run_before_it():
    before = sample(at("23:50", "2026-03-09"), running=False, site="Deposito")
    own = [sample(START, km=0.0), sample(at("00:02"), km=0.06), sample(at("00:04"), km=0.12, running=False)]
    after = sample(END, running=False)
    window = neighbours_window([before], own, [after])
    assert durations(window) == [(WORKING, 240), (NO_DATA, 86_400 - 240)]
    figures = day_figures(window, START, END, MOTION, RULES)
    assert figures.site == "Cantiere A" and figures.samples == 3  # the reading at the next midnight is not the day's


def test_a_day_covered_to_its_end_has_no_empty_run_after_it():
    window = [sample(at("23:00", "2026-03-09")), sample(at("23:30"), km=5001.0), sample(at("00:30", "2026-03-11"))]
    runs = timeline(window, START, END, MOTION, RULES)
    assert [(run.state, run.start, run.end) for run in runs] == [
        (NO_DATA, START, at("23:30")),
        (IDLE, at("23:30"), END),  # still for 30 minutes up to midnight
    ]


# -- stationary runs ---------------------------------------------------------------------------------------


def test_a_run_of_exactly_the_idle_minimum_is_idle_and_a_millisecond_less_is_working():
    exact = plan(at("10:00"), [("move", 60), ("still", 180), ("move", 60)])
    assert durations(exact)[1:4] == [(WORKING, 60), (IDLE, 180), (WORKING, 60)]
    shorter = plan(at("10:00"), [("move", 60), ("still", 179.999), ("move", 60)])
    assert durations(shorter)[1] == (WORKING, 299.999)


def test_idle_runs_are_counted_by_length_with_each_bucket_closed_below_and_open_above():
    steps = [("move", 60)]
    for seconds in (179.999, 180, 300, 359.999, 360, 539.999, 540, 1200):
        steps += [("still", seconds), ("move", 60)]
    figures = day_figures(plan(at("10:00"), steps), START, END, MOTION, RULES)
    assert figures.idle_runs == {"3_6": 3, "6_9": 2, "over_9": 2}
    assert figures.hours[IDLE] == pytest.approx((180 + 300 + 359.999 + 360 + 539.999 + 540 + 1200) / 3600)


def test_a_stationary_class_has_stationary_running_and_no_idle_runs():
    figures = day_figures(plan(at("10:00"), [("still", 600)]), START, END, STATIONARY_WORK, RULES)
    assert figures.hours[STATIONARY] == pytest.approx(600 / 3600) and figures.hours[IDLE] == 0
    assert figures.idle_runs == {"3_6": 0, "6_9": 0, "over_9": 0}


def test_a_slow_creep_leaves_the_radius_of_the_runs_first_position_and_is_work():
    # 20 m north every 2 minutes, no km: each step stays within 30 m of the one before, not of the start
    samples = [sample(at("10:00") + n * 2 * MINUTE_MS, km=None, lat=LAT + n * 0.00018) for n in range(10)]
    assert durations(samples)[1] == (WORKING, 18 * 60)
    standing = [sample(at("10:00") + n * 2 * MINUTE_MS, km=None) for n in range(10)]
    assert durations(standing)[1] == (IDLE, 18 * 60)  # the same without moving: one idle run


def test_a_machine_exactly_at_the_idle_radius_is_still_within_it():
    far_lat = LAT + 0.0003
    rules = UtilisationRules(idle_radius_m=distance_m(LAT, LON, far_lat, LON))
    samples = [sample(at("10:00"), km=None), sample(at("10:04"), km=None, lat=far_lat)]
    assert durations(samples, rules=rules)[1] == (IDLE, 240)
    rules = UtilisationRules(idle_radius_m=distance_m(LAT, LON, far_lat, LON) - 0.01)
    assert durations(samples, rules=rules)[1] == (WORKING, 240)


def test_a_km_delta_reaching_the_idle_maximum_is_movement_even_without_a_position():
    moved = [sample(at("10:00"), km=0.0, lat=None), sample(at("10:04"), km=0.05, lat=None)]
    assert durations(moved)[1] == (WORKING, 240)
    crept = [sample(at("10:00"), km=0.0, lat=None), sample(at("10:04"), km=0.04, lat=None)]
    assert durations(crept)[1] == (IDLE, 240)


# -- a day's figures ---------------------------------------------------------------------------------------


def test_an_interval_across_midnight_gives_each_day_its_share_of_engine_hours_and_fuel():
    window = [
        sample(at("23:30"), hours=100.0, fuel=1000.0),
        sample(at("00:30", "2026-03-11"), hours=101.0, fuel=1010.0),
    ]
    figures = day_figures(window, START, END, MOTION, RULES)
    assert figures.engine_hours == pytest.approx(0.5) and figures.fuel_l == pytest.approx(5.0)
    following = day_bounds("2026-03-11", "Europe/Rome")
    assert day_figures(window, *following, MOTION, RULES).engine_hours == pytest.approx(0.5)


@pytest.mark.parametrize(
    "hours_after, engine_hours",
    [(101.1, 1.1), (101.2, 0.0), (99.0, 0.0)],  # within clock + tolerance; faster than that; a reset
)
def test_engine_hours_follow_usages_plausibility_rule_for_the_hours_counter(hours_after, engine_hours):
    window = [sample(at("10:00")), sample(at("11:00"), hours=hours_after)]
    assert day_figures(window, START, END, MOTION, RULES).engine_hours == pytest.approx(engine_hours)


@pytest.mark.parametrize(
    "fuel_before, fuel_after, litres",
    [(1000.0, 1012.5, 12.5), (1000.0, 1000.0, 0.0), (1000.0, 990.0, 0.0), (None, 1010.0, 0.0), (1000.0, None, 0.0)],
)
def test_fuel_is_the_rise_of_used_tot_l_and_a_decrease_or_unknown_counts_nothing(fuel_before, fuel_after, litres):
    window = [sample(at("10:00"), fuel=fuel_before), sample(at("10:30"), fuel=fuel_after)]
    assert day_figures(window, START, END, MOTION, RULES).fuel_l == litres


def test_the_days_site_is_where_the_machine_reported_longest_summing_its_intervals():
    # Z: two intervals of 40 minutes; B: three of 5 minutes; C: one of an hour (the longest single one)
    clocks = [("08:00", "Z"), ("08:40", "Z"), ("09:20", "B"), ("09:25", "B"), ("09:30", "B"), ("09:35", "C")]
    window = [sample(at(clock), site=site, running=False) for clock, site in clocks]
    window.append(sample(at("10:35"), site="C", running=False))
    assert day_figures(window, START, END, MOTION, RULES).site == "Z"


def test_time_without_data_does_not_count_for_the_site():
    window = [sample(at("08:00"), site="B"), sample(at("08:30"), site="B"), sample(at("12:00"), site="A")]
    window.append(sample(at("13:00"), site="A"))  # B: 30 min of data then 3.5 h of no data; A: 1 h
    assert day_figures(window, START, END, MOTION, RULES).site == "A"


def test_a_tie_between_sites_goes_to_the_first_name_and_off_site_counts_as_a_site():
    window = [sample(at("08:00"), site="Y"), sample(at("08:30"), site="X"), sample(at("09:00"), site=None)]
    assert day_figures(window, START, END, MOTION, RULES).site == "X"
    window.append(sample(at("10:00"), site=None))
    assert day_figures(window, START, END, MOTION, RULES).site == OFF_SITE


@pytest.mark.parametrize("site, expected", [("Cantiere B", "Cantiere B"), (None, OFF_SITE)])
def test_a_day_of_a_single_reading_takes_that_readings_site(site, expected):
    window = [sample(at("21:00", "2026-03-09"), site="Deposito"), sample(at("12:00"), site=site)]
    figures = day_figures(window, START, END, MOTION, RULES)  # the interval before is no data (15 h)
    assert figures.site == expected and figures.samples == 1 and figures.hours[NO_DATA] == 24


# -- days, windows and merges ------------------------------------------------------------------------------


def test_a_sample_changes_the_day_before_when_it_is_the_days_first_and_the_day_after_when_its_last():
    first, middle, last = sample(at("08:00")), sample(at("12:00")), sample(at("18:00"))
    merged = [first, middle, last]
    assert days_touched_by(DAY, merged, [middle]) == {DAY}
    assert days_touched_by(DAY, merged, [first]) == {"2026-03-09", DAY}
    assert days_touched_by(DAY, merged, [last]) == {DAY, "2026-03-11"}
    assert days_touched_by(DAY, [middle], [middle]) == {"2026-03-09", DAY, "2026-03-11"}
    assert days_touched_by(DAY, [], []) == {DAY}


def test_a_days_window_is_the_last_sample_before_it_its_own_and_the_first_after_in_order():
    before = [sample(at("20:00", "2026-03-09")), sample(at("22:00", "2026-03-09"))]
    own = [sample(at("08:00")), sample(at("12:00"))]
    after = [sample(at("06:00", "2026-03-11")), sample(at("07:00", "2026-03-11"))]
    assert neighbours_window(before, own, after) == [before[-1], *own, after[0]]
    assert neighbours_window([], own, []) == own


def test_merging_adds_new_event_times_in_order_and_keeps_the_first_sample_of_a_time():
    stored = [sample(at("09:00")), sample(at("11:00"))]
    replay = sample(at("11:00"), hours=999.0)
    merged, changed = merge_samples(stored, [sample(at("12:00")), replay, sample(at("08:00"))])
    assert merged == [sample(at("08:00")), stored[0], stored[1], sample(at("12:00"))] and changed is True
    assert merge_samples(stored, [replay]) == (stored, False)
    assert merge_samples([], [replay]) == ([replay], True)


# -- generated days --------------------------------------------------------------------------------------

readings = st.lists(
    st.tuples(
        st.integers(-3 * HOUR_MS, 27 * HOUR_MS),  # from the evening before to the morning after
        st.sampled_from([True, False, None]),
        st.floats(0, 0.5),  # hours added since the previous reading
        st.sampled_from(["A", "B", None]),
        st.booleans(),  # moved
    ),
    max_size=30,
)


@property_settings(80, deadline=None)
@given(values=readings, judged_by=st.sampled_from([MOTION, STATIONARY_WORK]))
def test_runs_are_back_to_back_non_empty_and_add_up_to_the_days_hours_by_state(values, judged_by):
    samples, hours, lat = [], 100.0, LAT
    for offset, running, added, site, moved in sorted(values, key=lambda value: value[0]):
        hours, lat = hours + added, lat + (0.001 if moved else 0.0)
        samples.append(Sample(START + offset, hours, None, running, lat, LON, None, site))
    samples = merge_samples([], samples)[0]
    runs = timeline(samples, START, END, judged_by, RULES)
    assert runs[0].start == START and runs[-1].end == END
    assert all(run.end > run.start for run in runs)
    assert all(a.end == b.start and a.state != b.state for a, b in itertools.pairwise(runs))
    figures = day_figures(samples, START, END, judged_by, RULES)
    for state, total in figures.hours.items():
        assert total == pytest.approx(sum(run.hours for run in runs if run.state == state), abs=1e-9)
    assert figures.samples == sum(START <= s.t < END for s in samples)
