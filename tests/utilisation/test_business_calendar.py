"""``equipment_utilisation.business_calendar``: which calendar, class and zone a machine gets, the
periods (day, ISO week, month), the ratios and their nulls, and daily rows summed into periods
(docs/UTILISATION.md, "Definitions" and "Decisions"). Pure: no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_utilisation.business import MOTION, STATIONARY_WORK
from equipment_utilisation.business_calendar import (
    Calendar,
    PeriodSummary,
    UtilisationConfig,
    dates_between,
    period_of,
    ratio,
    summarise,
)
from tests.properties import property_settings

TEN_EVERY_DAY = Calendar("ten", hours=(10.0,) * 7)
SIX_EVERY_DAY = Calendar("six", hours=(6.0,) * 7)
CONFIG = UtilisationConfig(
    classes={"excavator": STATIONARY_WORK, "dumper": MOTION, "generic": MOTION},
    model_classes={"320": "excavator", "b30e": "dumper"},
    default_class="generic",
    calendars={"standard": Calendar("standard"), "ten": TEN_EVERY_DAY, "six": SIX_EVERY_DAY},
    class_calendars={"excavator": "six"},
    site_calendars={"Cantiere A": "ten"},
    site_zones={"Site NY": "America/New_York"},
    machine_zones={"EX1": "Asia/Tokyo"},
    default_zone="Europe/Rome",
    holidays=frozenset({"2026-04-06"}),
)


# -- calendars, classes, zones -----------------------------------------------------------------------------


def test_a_calendar_gives_hours_by_weekday_and_none_on_its_own_or_the_global_holidays():
    standard = Calendar("standard")
    assert [standard.available_hours(f"2026-03-{day:02}") for day in range(9, 16)] == [8, 8, 8, 8, 8, 0, 0]
    standard = Calendar("standard", holidays=frozenset({"2026-03-11"}))
    assert standard.available_hours("2026-03-11") == 0.0
    assert standard.available_hours("2026-03-12", frozenset({"2026-03-12"})) == 0.0


def test_a_model_is_classed_case_insensitively_and_an_unknown_or_missing_one_gets_the_default_class():
    assert CONFIG.machine_class(" B30e ") == "dumper" and CONFIG.machine_class("320") == "excavator"
    assert [CONFIG.machine_class(model) for model in ("D9", "", None)] == ["generic"] * 3


def test_a_class_is_judged_as_configured_and_an_unknown_one_by_motion():
    assert CONFIG.judged_by("excavator") == STATIONARY_WORK and CONFIG.judged_by("dumper") == MOTION
    assert CONFIG.judged_by("crane") == MOTION


def test_the_zone_is_the_sites_on_a_site_with_one_else_the_machines_home_zone_else_the_default():
    assert CONFIG.zone("EX1", "Site NY") == "America/New_York"
    assert CONFIG.zone("EX1", "Cantiere A") == "Asia/Tokyo" and CONFIG.zone("EX1", None) == "Asia/Tokyo"
    assert CONFIG.zone("EX2", None) == "Europe/Rome"


def test_the_calendar_is_the_sites_else_the_classs_else_the_default():
    assert CONFIG.calendar("Cantiere A", "excavator") == TEN_EVERY_DAY  # the site's wins over the class's
    assert CONFIG.calendar("Cantiere B", "excavator") == SIX_EVERY_DAY
    assert CONFIG.calendar(None, "excavator") == SIX_EVERY_DAY
    assert CONFIG.calendar("Cantiere B", "dumper") == Calendar("standard")
    sunday, easter_monday = "2026-03-15", "2026-04-06"
    assert CONFIG.available_hours("Cantiere A", "dumper", sunday) == 10.0
    assert CONFIG.available_hours("Cantiere B", "excavator", sunday) == 6.0
    assert CONFIG.available_hours("Cantiere B", "dumper", sunday) == 0.0
    assert CONFIG.available_hours("Cantiere A", "dumper", easter_monday) == 0.0  # a global holiday


# -- periods -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, group_by, period",
    [
        ("2026-03-11", "day", ("2026-03-11", "2026-03-11")),
        ("2026-03-11", "week", ("2026-03-09", "2026-03-15")),  # a Wednesday: Monday to Sunday
        ("2026-03-09", "week", ("2026-03-09", "2026-03-15")),
        ("2026-03-15", "week", ("2026-03-09", "2026-03-15")),
        ("2026-12-31", "week", ("2026-12-28", "2027-01-03")),
        ("2026-02-14", "month", ("2026-02-01", "2026-02-28")),
        ("2028-02-29", "month", ("2028-02-01", "2028-02-29")),
        ("2026-04-01", "month", ("2026-04-01", "2026-04-30")),
        ("2026-12-31", "month", ("2026-12-01", "2026-12-31")),
        ("2026-01-01", "month", ("2026-01-01", "2026-01-31")),
    ],
)
def test_a_day_falls_in_its_day_iso_week_or_month(day, group_by, period):
    assert period_of(day, group_by) == period


def test_dates_between_are_inclusive():
    assert dates_between("2026-02-27", "2026-03-02") == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    assert dates_between("2026-03-02", "2026-03-02") == ["2026-03-02"]


# -- ratios ------------------------------------------------------------------------------------------------


def test_a_ratio_is_none_without_a_positive_denominator_or_below_its_minimum():
    assert ratio(3.0, 1.0) == 3.0 and ratio(1.0, 0.5) == 2.0
    assert ratio(1.0, 0.0) is None and ratio(1.0, -1.0) is None
    assert ratio(1.0, 0.5, minimum=0.5) == 2.0 and ratio(1.0, 0.49, minimum=0.5) is None


def test_fuel_per_hour_needs_half_an_engine_hour_and_the_other_ratios_any():
    summary = PeriodSummary("D1", "2026-03-09", "2026-03-15", "dumper", "Cantiere A", 7, engine_hours=0.5)
    summary.fuel_l, summary.idle_hours, summary.available_hours = 6.0, 0.25, 0.5
    assert summary.fuel_per_hour == 12.0 and summary.idle_share == 0.5 and summary.utilisation == 1.0
    assert summary.calendar_utilisation == 0.5 / 168
    summary.engine_hours = 0.49
    assert summary.fuel_per_hour is None and summary.idle_share == pytest.approx(0.25 / 0.49)


# -- summaries ---------------------------------------------------------------------------------------------


def row(machine: str, day: str, site: str, machine_class: str = "dumper", **values) -> dict:
    """A daily row (``DayRow.as_document`` shape): 2 engine hours, 8 available, 5 l, a few of each state."""
    return {
        "machine": machine,
        "date": day,
        "site": site,
        "machine_class": machine_class,
        "engine_hours": 2.0,
        "available_hours": 8.0,
        "fuel_l": 5.0,
        "hours": {"working": 1.0, "idle": 0.5, "stationary": 0.0, "off": 2.5, "no_data": 20.0},
        "idle_runs": {"3_6": 1, "6_9": 0, "over_9": 2},
        **values,
    }


def test_a_week_sums_its_rows_and_counts_the_silent_days_available_with_the_latest_rows_calendar():
    rows = [
        row("D1", "2026-03-01", "Cantiere A"),  # outside the range, listed first
        row("D1", "2026-03-12", "Cantiere A", idle_runs={"3_6": 2, "6_9": 1, "over_9": 0}, engine_hours=3.0),
        row("D1", "2026-03-10", "Cantiere B", available_hours=6.0, fuel_l=2.5),
        row("E1", "2026-03-10", "Cantiere B", "excavator"),
    ]
    d1, e1 = summarise(rows, "2026-03-02", "2026-03-15", "week", CONFIG)
    assert (d1.machine, d1.period_start, d1.period_end, d1.machine_class, d1.site, d1.days, d1.days_reported) == (
        "D1", "2026-03-09", "2026-03-15", "dumper", "Cantiere A", 7, 2
    )  # fmt: skip
    assert d1.available_hours == 6.0 + 8.0 + 5 * 10.0  # five silent days on Cantiere A's calendar
    assert (d1.engine_hours, d1.fuel_l, d1.idle_runs) == (5.0, 7.5, {"3_6": 3, "6_9": 1, "over_9": 2})
    assert (d1.working_hours, d1.idle_hours, d1.stationary_hours, d1.off_hours) == (2.0, 1.0, 0.0, 5.0)
    assert d1.no_data_hours == 2 * 20.0 + 5 * 24.0
    assert (e1.machine, e1.site, e1.machine_class) == ("E1", "Cantiere B", "excavator")
    assert e1.available_hours == 8.0 + 6 * 6.0  # Cantiere B has no calendar: the excavators' one


def test_the_range_clips_a_period_and_days_are_periods_of_one_day():
    rows = [row("D1", day, "Cantiere B") for day in ("2026-03-10", "2026-03-11", "2026-03-13")]
    [week] = summarise(rows, "2026-03-11", "2026-03-13", "week", CONFIG)
    assert (week.period_start, week.period_end, week.days, week.days_reported) == ("2026-03-11", "2026-03-13", 3, 2)
    assert week.available_hours == 8.0 + 8.0 + 8.0  # Thursday 12 silent: the standard calendar's 8
    days = summarise(rows, "2026-03-10", "2026-03-12", "day", CONFIG)
    assert [(day.period_start, day.period_end, day.days) for day in days] == [
        ("2026-03-10", "2026-03-10", 1),
        ("2026-03-11", "2026-03-11", 1),
    ]


def test_a_month_counts_every_calendar_day_of_the_month_inside_the_range():
    rows = [row("D1", "2026-02-27", "Cantiere A"), row("D1", "2026-03-02", "Cantiere A")]
    february, march = summarise(rows, "2026-02-01", "2026-03-03", "month", CONFIG)
    assert (february.period_start, february.period_end, february.days) == ("2026-02-01", "2026-02-28", 28)
    assert (march.period_start, march.period_end, march.days) == ("2026-03-01", "2026-03-03", 3)
    assert february.available_hours == 8.0 + 27 * 10.0 and february.calendar_utilisation == 2.0 / (24 * 28)


@property_settings(60)
@given(
    days=st.sets(st.integers(0, 40), min_size=1),
    first=st.integers(0, 20),
    length=st.integers(0, 30),
    group_by=st.sampled_from(["day", "week", "month"]),
)
def test_the_periods_cover_the_range_once_and_every_day_is_reported_or_24_hours_of_no_data(
    days, first, length, group_by
):
    every = dates_between("2026-02-20", "2026-04-30")
    rows = [row("D1", every[day], "Cantiere B") for day in days]
    start, end = every[first], every[first + length]
    summaries = summarise(rows, start, end, group_by, CONFIG)
    inside = [every[day] for day in days if start <= every[day] <= end]
    assert sum(summary.days_reported for summary in summaries) == len(inside)
    for summary in summaries:
        assert start <= summary.period_start <= summary.period_end <= end
        assert summary.days == len(dates_between(summary.period_start, summary.period_end))
        silent = summary.days - summary.days_reported
        assert summary.no_data_hours == 20.0 * summary.days_reported + 24.0 * silent
        assert summary.engine_hours == 2.0 * summary.days_reported
