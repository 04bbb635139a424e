"""Contract periods and the hours in them (pure): the calendar's edges, the meter, data gaps."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from equipment_rentals.business_periods import (
    HOUR_MS,
    Interval,
    contract_periods,
    hours_in_period,
    hours_in_periods,
    meter_at,
    period_bounds_ms,
)

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JUNE_MS = 1_780_272_000_000  # 2026-06-01T00:00:00Z


def test_month_periods_run_across_the_new_year():
    on_rent = datetime(2026, 11, 15, 8, tzinfo=UTC)
    periods = contract_periods(on_rent, None, "month", "UTC", datetime(2027, 3, 1, tzinfo=UTC))
    assert [(p.index, p.start.date().isoformat(), p.end.date().isoformat()) for p in periods] == [
        (0, "2026-11-15", "2026-12-15"),
        (1, "2026-12-15", "2027-01-15"),
        (2, "2027-01-15", "2027-02-15"),
        (3, "2027-02-15", "2027-03-15"),  # the running period, whole
    ]


def test_an_unknown_basis_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^Unknown basis 'fortnight'; expected one of \('day', 'week', 'month'\)\.$"):
        contract_periods(JUNE, None, "fortnight", "UTC", JUNE)


def test_custom_periods_of_28_days_end_28_days_after_they_start():
    periods = contract_periods(JUNE, None, "month", "UTC", datetime(2026, 7, 1, tzinfo=UTC), period_days=28)
    assert [(p.start.date().isoformat(), p.end.date().isoformat()) for p in periods] == [
        ("2026-06-01", "2026-06-29"),
        ("2026-06-29", "2026-07-27"),
    ]


def test_a_contract_ending_on_a_period_boundary_bills_whole_periods_even_a_short_february():
    periods = contract_periods(
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        "month",
        "UTC",
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert [p.fraction for p in periods] == [1, 1]  # not 28/30 for February


def test_a_last_month_cut_after_more_than_30_days_is_one_whole_month_never_more():
    off_rent = datetime(2026, 1, 31, 12, tzinfo=UTC)  # 30.5 days into a 31-day January
    [period] = contract_periods(datetime(2026, 1, 1, tzinfo=UTC), off_rent, "month", "UTC", off_rent)
    assert (period.end, period.fraction) == (off_rent, Decimal(1))


def test_period_bounds_are_epoch_milliseconds_of_the_local_bounds():
    [day] = contract_periods(JUNE, JUNE + timedelta(days=1), "day", "UTC", JUNE)
    assert period_bounds_ms(day) == (JUNE_MS, JUNE_MS + 24 * HOUR_MS)
    # The Berlin day into summer time lasts 23 h exactly.
    on_rent = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 2026-03-29 00:00 in Berlin
    [short] = contract_periods(on_rent, None, "day", "Europe/Berlin", on_rent + timedelta(hours=1))
    start_ms, end_ms = period_bounds_ms(short)
    assert end_ms - start_ms == 23 * HOUR_MS


# -- the meter ------------------------------------------------------------------------------------

# A first reading at 100 h, a meter reset to 5 h (the interval counts nothing), then 1 h of work.
RESET = [
    Interval(None, 0, None, None, 100.0),
    Interval(0, HOUR_MS, None, 100.0, 5.0),
    Interval(HOUR_MS, 2 * HOUR_MS, 1.0, 5.0, 6.0),
]


def test_meter_at_a_reading_is_that_readings_meter_even_after_a_reset():
    assert meter_at(RESET, HOUR_MS) == 5.0
    assert meter_at(RESET, 2 * HOUR_MS) == 6.0


def test_meter_inside_an_interval_that_counts_nothing_is_the_reading_before_it():
    assert meter_at(RESET, HOUR_MS // 2) == 100.0
    assert meter_at(RESET, 3 * HOUR_MS // 2) == 5.5  # inside a counted interval: interpolated


def test_meter_at_the_start_of_the_first_interval_given_is_its_start_meter():
    # The entries before it not read (e.g. pruned): its start is still a reading, known by its meter.
    only = RESET[2:]
    assert (meter_at(only, HOUR_MS - 1), meter_at(only, HOUR_MS), meter_at(only, HOUR_MS + 1)) == (
        None,
        5.0,
        5.0 + 1 / HOUR_MS,
    )


# -- hours and data gaps --------------------------------------------------------------------------


def test_a_period_not_started_by_as_of_has_no_data_gap_yet():
    chain = [Interval(None, 0, None, None, 0.0)] + [
        Interval(i * HOUR_MS, (i + 1) * HOUR_MS, 0.5, i / 2, (i + 1) / 2) for i in range(48)
    ]
    tomorrow = hours_in_period(chain, 24 * HOUR_MS, 48 * HOUR_MS, 12 * HOUR_MS, HOUR_MS)
    assert (tomorrow.used, tomorrow.gap_hours) == (12.0, 0.0)  # the future is not a gap


def test_hours_in_periods_reach_back_over_readings_without_a_meter():
    # The first readings carried no engine hours: the meter is unknown, the hours still count.
    chain = [
        Interval(None, 0, None, None, None),
        Interval(0, HOUR_MS, 1.0, None, None),
        Interval(HOUR_MS, 2 * HOUR_MS, 1.0, None, 7.0),
    ]
    [period] = hours_in_periods(chain, [(0, 2 * HOUR_MS)], 2 * HOUR_MS, HOUR_MS)
    assert (period.used, period.gap_hours, period.meter_start, period.meter_end) == (2.0, 0.0, None, 7.0)


def test_hours_in_periods_reach_back_to_the_newest_reading_with_a_meter():
    # Two readings in the middle carried no engine hours: a period starting at or after them still
    # reads its start meter from the reading before them (and the hours of every interval).
    chain = [
        Interval(None, 0, None, None, 100.0),
        Interval(0, HOUR_MS, 1.0, 100.0, None),
        Interval(HOUR_MS, 2 * HOUR_MS, 1.0, None, None),
        Interval(2 * HOUR_MS, 3 * HOUR_MS, 1.0, None, 103.0),
    ]
    bounds = [(HOUR_MS, 2 * HOUR_MS), (2 * HOUR_MS, 3 * HOUR_MS)]
    found = hours_in_periods(chain, bounds, 3 * HOUR_MS, HOUR_MS)
    assert [(p.used, p.gap_hours, p.meter_start, p.meter_end) for p in found] == [
        (1.0, 0.0, 100.0, 100.0),
        (1.0, 0.0, 100.0, 103.0),
    ]
    assert found == [hours_in_period(chain, start, end, 3 * HOUR_MS, HOUR_MS) for start, end in bounds]
