"""The rental money rules and periods (pure): every numeric example of issue 29, and properties."""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from equipment_rentals.business import DELTA_FIELDS, Statement, Terms, delta_lines, hours, line_values, money, statement
from equipment_rentals.business_periods import (
    HOUR_MS,
    Interval,
    Period,
    PeriodHours,
    contract_periods,
    hours_in_period,
    hours_in_periods,
    meter_at,
    period_bounds_ms,
    utc,
)
from tests.properties import property_settings

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
AUG = datetime(2026, 8, 1, tzinfo=UTC)


def used(*values):
    return [PeriodHours(used=v, gap_hours=0.0, meter_start=None, meter_end=None) for v in values]


def month_terms(pooled):
    return Terms(base_rate=Decimal(6000), allowance_hours=Decimal(176), pooled=pooled)


def june_july():
    return contract_periods(JUNE, AUG, "month", "UTC", AUG)


def test_june_july_pooled_charges_13_hours_on_the_last_line():
    result = statement(month_terms(pooled=True), june_july(), used(195.0, 170.0), settled=True)
    assert result.excess_hours == Decimal("13.00")
    assert result.excess_total == Decimal("443.18")
    assert [line.excess_amount for line in result.lines] == [Decimal("0.00"), Decimal("443.18")]
    assert result.total == Decimal("12443.18")


def test_june_july_per_period_charges_june_19_hours_and_july_nothing():
    result = statement(month_terms(pooled=False), june_july(), used(195.0, 170.0), settled=True)
    assert [(line.excess_hours, line.excess_amount) for line in result.lines] == [
        (Decimal("19.00"), Decimal("647.73")),
        (Decimal("0.00"), Decimal("0.00")),
    ]
    assert result.lines[0].excess_rate == Decimal("34.0909")


@pytest.mark.parametrize("months", [1, 3])
def test_a_pooled_contract_charges_its_excess_on_its_last_line_whatever_its_length(months):
    """The June-July example has two lines, where the last is also the second: one and three lines
    tell "the last" from "the second" (the gate's pure run once let that mutant through)."""
    periods = contract_periods(JUNE, datetime(2026, 6 + months, 1, tzinfo=UTC), "month", "UTC", AUG)
    result = statement(month_terms(pooled=True), periods, used(*[186.0] * months), settled=True)
    assert [line.excess_hours for line in result.lines] == [Decimal("0.00")] * (months - 1) + [Decimal(10 * months)]


def test_a_pooled_contract_still_running_charges_no_excess_yet():
    result = statement(month_terms(pooled=True), june_july(), used(195.0, 170.0), settled=False)
    assert result.excess_total == 0


def test_day_basis_11_5_hours_gives_280_overtime():
    start = datetime(2026, 6, 1, 6, tzinfo=UTC)
    periods = contract_periods(start, datetime(2026, 6, 2, 6, tzinfo=UTC), "day", "UTC", start)
    terms = Terms(base_rate=Decimal(640), allowance_hours=Decimal(8))
    assert statement(terms, periods, used(11.5), settled=True).excess_total == Decimal("280.00")


def test_week_basis_45_hours_gives_125():
    periods = contract_periods(JUNE, datetime(2026, 6, 8, tzinfo=UTC), "week", "UTC", JUNE)
    terms = Terms(base_rate=Decimal(1000), allowance_hours=Decimal(40))
    assert statement(terms, periods, used(45.0), settled=True).excess_total == Decimal("125.00")


def test_one_month_plus_7_days_is_7400_base_in_any_month():
    for on_rent, zone in [(JUNE, "UTC"), (datetime(2026, 7, 1, tzinfo=UTC), "UTC"), (JUNE, "Europe/Berlin")]:
        local = on_rent.replace(tzinfo=None)
        periods = contract_periods(on_rent, None, "month", zone, on_rent)  # nothing started: empty
        assert periods == []
        first_end = contract_periods(on_rent, None, "month", zone, on_rent.replace(day=2))[0].end
        off_rent = first_end.replace(day=first_end.day + 7)
        periods = contract_periods(on_rent, off_rent, "month", zone, off_rent)
        assert [p.fraction for p in periods] == [1, Decimal(7) / Decimal(30)], local
        result = statement(month_terms(pooled=False), periods, used(0.0, 0.0), settled=True)
        assert result.base_total == Decimal("7400.00")
        assert [line.allowance for line in result.lines] == [Decimal("176.00"), Decimal("41.07")]


def test_month_periods_follow_the_local_calendar_and_clamp_the_day():
    on_rent = datetime(2026, 1, 30, 23, tzinfo=UTC)  # Jan 31 00:00 in Berlin
    periods = contract_periods(on_rent, None, "month", "Europe/Berlin", datetime(2026, 4, 1, tzinfo=UTC))
    assert [p.start.isoformat() for p in periods] == [
        "2026-01-31T00:00:00+01:00",
        "2026-02-28T00:00:00+01:00",
        "2026-03-31T00:00:00+02:00",
    ]


def test_custom_160_hours_per_28_days():
    periods = contract_periods(JUNE, None, "month", "UTC", datetime(2026, 7, 1, tzinfo=UTC), period_days=28)
    assert [p.start.day for p in periods] == [1, 29]
    terms = Terms(base_rate=Decimal(5600), allowance_hours=Decimal(160))
    assert statement(terms, periods[:1], used(170.0), settled=False).excess_total == Decimal("350.00")


def test_shift_multiplier_and_overtime_factor():
    periods = contract_periods(JUNE, datetime(2026, 6, 2, tzinfo=UTC), "day", "UTC", JUNE)
    terms = Terms(
        base_rate=Decimal(640), allowance_hours=Decimal(8), shift_multiplier=2, overtime_factor=Decimal("1.5")
    )
    line = statement(terms, periods, used(20.0), settled=True).lines[0]
    assert (line.allowance, line.excess_hours) == (Decimal("16.00"), Decimal("4.00"))
    assert line.excess_amount == Decimal("240.00")  # 4 h x 640/16 x 1.5


def test_data_gap_hours_are_intervals_over_the_threshold_and_uncovered_stretches():
    day = int(JUNE.timestamp() * 1000)
    intervals = [
        Interval(None, day + 1 * HOUR_MS, None, None, 100.0),
        Interval(day + 1 * HOUR_MS, day + 2 * HOUR_MS, 1.0, 100.0, 101.0),  # 1 h: data (threshold inclusive)
        Interval(day + 2 * HOUR_MS, day + 2 * HOUR_MS + 75 * 60_000, 1.0, 101.0, 102.0),  # 75 min: no data
        Interval(day + 2 * HOUR_MS + 75 * 60_000, day + 4 * HOUR_MS, 1.0, 102.0, 103.0),  # 45 min
    ]
    result = hours_in_period(intervals, day, day + 24 * HOUR_MS, day + 24 * HOUR_MS, HOUR_MS)
    assert result.used == 3.0  # the hours across the gap are billed (the meter caught up)
    assert result.gap_hours == 1 + 1.25 + 20  # before the first reading, the 75-min gap, after the last
    assert (result.meter_start, result.meter_end) == (None, 103.0)
    assert meter_at(intervals, day + 90 * 60_000) == 100.5
    # Not yet happened is not a gap: as of 05:00, only 1 h after the last reading is missing.
    assert hours_in_period(intervals, day, day + 24 * HOUR_MS, day + 5 * HOUR_MS, HOUR_MS).gap_hours == 3.25


def test_hours_of_an_interval_across_a_boundary_are_shared_by_time():
    boundary = int(JUNE.timestamp() * 1000)
    intervals = [Interval(boundary - HOUR_MS, boundary + 3 * HOUR_MS, 4.0, 10.0, 14.0)]
    before = hours_in_period(intervals, boundary - 24 * HOUR_MS, boundary, boundary + 9 * HOUR_MS, 5 * HOUR_MS)
    after = hours_in_period(intervals, boundary, boundary + 24 * HOUR_MS, boundary + 9 * HOUR_MS, 5 * HOUR_MS)
    assert (before.used, after.used) == (1.0, 3.0)
    assert before.meter_end == after.meter_start == 11.0


def test_delta_lines_carry_the_change_per_period():
    periods = june_july()
    v1 = [line_values(line) for line in statement(month_terms(False), periods, used(195.0, 170.0), True).lines]
    v2 = [line_values(line) for line in statement(month_terms(False), periods, used(195.0, 172.0), True).lines]
    assert delta_lines(v1, v1) == []
    [delta] = delta_lines(v1, v2)
    assert delta["period_start"] == "2026-07-01T00:00:00+00:00"
    assert (delta["hours_used"], delta["excess_amount"], delta["amount"]) == ("2.00", "0.00", "0.00")


# --- properties ---------------------------------------------------------------------------------

hour_values = st.floats(min_value=0, max_value=700, allow_nan=False).map(lambda h: round(h, 2))
terms_strategy = st.builds(
    Terms,
    base_rate=st.decimals(min_value=1, max_value=100_000, places=2),
    allowance_hours=st.sampled_from([Decimal(8), Decimal(40), Decimal(160), Decimal(176), Decimal("7.5")]),
    overtime_factor=st.decimals(min_value=1, max_value=3, places=2),
    shift_multiplier=st.integers(1, 3),
)


def periods_of(count):
    return [Period(i, JUNE, JUNE, Decimal(1)) for i in range(count)]


@property_settings(max_examples=200)
@given(terms_strategy, st.lists(hour_values, min_size=1, max_size=12), st.booleans())
def test_totals_are_sums_of_lines_and_pooling_never_charges_more(terms, hours_list, settled):
    per_period = statement(terms, periods_of(len(hours_list)), used(*hours_list), settled)
    pooled_terms = Terms(terms.base_rate, terms.allowance_hours, terms.overtime_factor, terms.shift_multiplier, True)
    pooled = statement(pooled_terms, periods_of(len(hours_list)), used(*hours_list), settled)
    for result in (per_period, pooled):
        assert result.total == sum(line.amount for line in result.lines)
        assert result.excess_total == sum(line.excess_amount for line in result.lines)
        assert all(line.amount == money(line.amount) for line in result.lines)
        assert all(line.amount == line.base_amount + line.excess_amount for line in result.lines)
    assert pooled.excess_hours <= per_period.excess_hours
    assert pooled.base_total == per_period.base_total
    if settled:
        over = sum(line.hours_used for line in per_period.lines) - sum(line.allowance for line in per_period.lines)
        assert pooled.excess_hours == max(Decimal(0), over)
    if len(hours_list) == 1 and settled:  # one period: pooling is the same thing
        assert pooled.excess_total == per_period.excess_total


@property_settings(max_examples=100)
@given(terms_strategy, st.lists(hour_values, min_size=1, max_size=6), st.booleans())
def test_a_statement_is_idempotent_and_its_own_delta_is_empty(terms, hours_list, pooled):
    terms = Terms(terms.base_rate, terms.allowance_hours, terms.overtime_factor, terms.shift_multiplier, pooled)
    first = statement(terms, periods_of(len(hours_list)), used(*hours_list), True)
    again = statement(terms, periods_of(len(hours_list)), used(*hours_list), True)
    assert first == again
    lines = [line_values(line) for line in first.lines]
    assert delta_lines(lines, lines) == []


@property_settings(max_examples=100)
@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=400 * 24),
    st.sampled_from(["day", "week", "month"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
)
def test_periods_tile_the_contract(on_rent, length_hours, basis, zone):
    off_rent = datetime.fromtimestamp(on_rent.timestamp() + length_hours * 3600, UTC)
    periods = contract_periods(on_rent, off_rent, basis, zone, off_rent)
    assert utc(periods[0].start) == on_rent and utc(periods[-1].end) == off_rent
    assert all(utc(a.end) == utc(b.start) for a, b in pairwise(periods))
    assert all(p.fraction == 1 for p in periods[:-1]) and 0 < periods[-1].fraction <= 1


def test_day_periods_follow_the_wall_clock_across_dst():
    on_rent = datetime(2026, 3, 28, 6, tzinfo=UTC)  # 07:00 in Berlin, the day before summer time
    periods = contract_periods(on_rent, None, "day", "Europe/Berlin", datetime(2026, 3, 30, 5, tzinfo=UTC))
    assert [p.start.isoformat() for p in periods] == ["2026-03-28T07:00:00+01:00", "2026-03-29T07:00:00+02:00"]
    first, second = (period_bounds_ms(p) for p in periods)
    assert (first[1] - first[0]) // HOUR_MS == 23 and (second[1] - second[0]) // HOUR_MS == 24


@st.composite
def chains(draw):
    """A ledger chain: a first reading, then intervals of 1 min to 3 h, some hours or meters missing."""
    time_ms, meter = draw(st.integers(0, 10 * HOUR_MS)), 100.0
    intervals = [Interval(None, time_ms, None, None, meter)]
    for _ in range(draw(st.integers(0, 60))):
        step = draw(st.integers(60_000, 3 * HOUR_MS))
        used = draw(st.one_of(st.none(), st.floats(0, step / HOUR_MS)))
        start_meter = intervals[-1].end_meter
        end_meter = None if draw(st.integers(0, 9)) == 0 else meter + (used or 0.0)
        meter = end_meter if end_meter is not None else meter
        intervals.append(Interval(time_ms, time_ms + step, used, start_meter, end_meter))
        time_ms += step
    return intervals


@property_settings(max_examples=200)
@given(chains(), st.lists(st.integers(0, 200 * HOUR_MS), min_size=2, max_size=12, unique=True), st.integers(0, 300))
# Found by a CI-sized run: a period after as_of read its end meter (at as_of) outside its slice.
@example([Interval(None, 0, None, None, 100.0), Interval(0, 60_000, None, 100.0, 100.0)], [60_000, 60_001], 0)
def test_hours_in_periods_reads_only_nearby_intervals_and_agrees_with_the_full_walk(intervals, cuts, as_of_hours):
    cuts.sort()
    bounds = list(pairwise(cuts))
    as_of_ms = as_of_hours * HOUR_MS
    fast = hours_in_periods(intervals, bounds, as_of_ms, HOUR_MS)
    full = [hours_in_period(intervals, start, end, as_of_ms, HOUR_MS) for start, end in bounds]
    assert fast == full


# --- lines, totals and rounding -----------------------------------------------------------------


def test_rounding_is_half_even_whatever_the_callers_decimal_context():
    periods = contract_periods(JUNE, datetime(2026, 6, 2, tzinfo=UTC), "day", "UTC", JUNE)
    terms = Terms(base_rate=Decimal(1), allowance_hours=Decimal(32))  # rate 1/32 = 0.03125 exactly
    with localcontext(rounding=ROUND_HALF_UP):
        assert money(Decimal("0.125")) == Decimal("0.12")
        assert hours(Decimal("2.345")) == Decimal("2.34")
        assert statement(terms, periods, used(40.0), settled=True).lines[0].excess_rate == Decimal("0.0312")


def test_ledger_hours_round_from_their_shortest_repr():
    # 2.675 as a float is 2.67499999999999982...: its binary value would round down to 2.67.
    assert hours(2.675) == Decimal("2.68")
    assert hours(0.125) == Decimal("0.12")


def test_a_line_carries_its_period_and_the_meter_at_its_bounds():
    periods = june_july()
    usage = [
        PeriodHours(used=195.0, gap_hours=1.5, meter_start=None, meter_end=1234.567),  # no reading before June
        PeriodHours(used=170.0, gap_hours=0.25, meter_start=1234.567, meter_end=1404.561),
    ]
    result = statement(month_terms(pooled=False), periods, usage, settled=True)
    july = result.lines[1]
    assert (july.period_index, july.period_start, july.period_end) == (
        1,
        "2026-07-01T00:00:00+00:00",
        "2026-08-01T00:00:00+00:00",
    )
    assert (result.lines[0].hours_start, result.lines[0].hours_end) == (None, Decimal("1234.57"))
    assert (july.hours_start, july.hours_end) == (Decimal("1234.57"), Decimal("1404.56"))
    assert (result.hours_used, result.data_gap_hours) == (Decimal("365.00"), Decimal("1.75"))
    assert line_values(result.lines[0]) | {} == {
        "period_index": 0,
        "period_start": "2026-06-01T00:00:00+00:00",
        "period_end": "2026-07-01T00:00:00+00:00",
        "hours_start": None,
        "hours_end": "1234.57",
        "hours_used": "195.00",
        "allowance": "176.00",
        "excess_hours": "19.00",
        "base_amount": "6000.00",
        "excess_rate": "34.0909",
        "excess_amount": "647.73",
        "amount": "6647.73",
        "data_gap_hours": "1.50",
    }


def test_a_statement_without_periods_is_all_decimal_zeros():
    for pooled in (False, True):
        result = statement(month_terms(pooled), [], [], settled=True)
        totals = [getattr(result, name) for name in Statement.__dataclass_fields__ if name != "lines"]
        assert result.lines == () and totals == [Decimal(0)] * 6
        assert all(isinstance(total, Decimal) for total in totals)  # amounts stay Decimal, never int 0


def test_usage_must_give_one_entry_per_period():
    with pytest.raises(ValueError, match=r"^one PeriodHours per period$"):
        statement(month_terms(pooled=True), june_july(), used(195.0), settled=True)


def lines_until(off_rent):
    periods = contract_periods(JUNE, off_rent, "month", "UTC", off_rent)
    usage = used(*[100.0] * len(periods))
    return [line_values(line) for line in statement(month_terms(False), periods, usage, True).lines]


def test_delta_lines_retract_a_period_dropped_whole_and_add_a_new_one_whole():
    june_only, june_july_lines = lines_until(datetime(2026, 7, 1, tzinfo=UTC)), lines_until(AUG)
    july = ("2026-07-01T00:00:00+00:00", "2026-08-01T00:00:00+00:00")
    # July's whole line: 100 h used of 176, no excess, 6,000 base, no data gap.
    figures = {"hours_used": 100, "allowance": 176, "base_amount": 6000, "amount": 6000}
    whole = {field: Decimal(figures.get(field, 0)) for field in DELTA_FIELDS}
    [added] = delta_lines(june_only, june_july_lines)
    [retracted] = delta_lines(june_july_lines, june_only)
    for delta, sign in ((added, 1), (retracted, -1)):
        assert (delta["period_start"], delta["period_end"]) == july
        assert {field: Decimal(delta[field]) for field in DELTA_FIELDS} == {k: sign * v for k, v in whole.items()}


def test_delta_lines_of_a_period_whose_end_moved_carry_the_new_end():
    [delta] = delta_lines(lines_until(datetime(2026, 7, 8, tzinfo=UTC)), lines_until(datetime(2026, 7, 15, tzinfo=UTC)))
    assert (delta["period_start"], delta["period_end"]) == ("2026-07-01T00:00:00+00:00", "2026-07-15T00:00:00+00:00")
    assert delta["base_amount"] == "1400.00"  # 6,000 x 7/30 more
