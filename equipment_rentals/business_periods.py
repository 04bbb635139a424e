"""Contract periods and the hours in them (pure: stdlib only, state passed as arguments).

A contract's periods start at its on-rent time and follow its basis in the contract's local time
(wall clock, so a day over a DST change lasts 23 or 25 hours): a day, a week (7 days), a calendar
month (same day of the next month, clamped to the month's last day), or a custom number of days
(e.g. 28). The last period ends at the off-rent time; cut short there, it is prorated (see
``Period.fraction``). An open-ended contract's periods run until the statement's time, the current
one in full (it is not prorated while it runs).

Hours come from the usage ledger as ``Interval``s (one per reading: the delta from the previous
reading). An interval's hours are shared over periods in proportion to time, as usage splits deltas
at midnight. An interval longer than the gap threshold is no-data, as are the stretches before the
first reading and after the last one: those hours count as data-gap hours (the delta across a gap
is still billed: the meter is cumulative, so the hours happened).
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

BASES = ("day", "week", "month")
# Nominal length of a basis in days, the denominator of a prorated period (a month counts 30 days:
# "one month plus 7 days at 6,000/month -> 7,400.00" is 6,000 + 6,000 x 7/30).
NOMINAL_DAYS = {"day": 1, "week": 7, "month": 30}
DEFAULT_ALLOWANCE_HOURS = {"day": Decimal(8), "week": Decimal(40), "month": Decimal(176)}
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Period:
    index: int
    start: datetime  # local, aware
    end: datetime  # local, aware
    # Share of the basis's nominal length the period covers: 1 for a whole period, less for a last
    # period cut at off-rent (wall-clock seconds / nominal days; never more than 1).
    fraction: Decimal


@dataclass(frozen=True)
class Interval:
    """One ledger entry: the hours between two readings (``start_ms`` None for the first reading)."""

    start_ms: int | None
    end_ms: int
    hours: float | None
    start_meter: float | None
    end_meter: float | None


@dataclass(frozen=True)
class PeriodHours:
    used: float
    gap_hours: float
    meter_start: float | None
    meter_end: float | None


def _add_months(local: datetime, months: int) -> datetime:
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def period_start(first: datetime, basis: str, period_days: int | None, n: int) -> datetime:
    """Start of the n-th period (0-based) from ``first`` (local, aware), by wall clock.

    Computed from the first start each time (not chained), so Jan 31 -> Feb 28 -> Mar 31."""
    if period_days:
        return first + timedelta(days=period_days * n)
    if basis == "month":
        return _add_months(first, n)
    return first + timedelta(days=NOMINAL_DAYS[basis] * n)


def _wall_seconds(start: datetime, end: datetime) -> int:
    return int((end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds())


def contract_periods(
    on_rent: datetime,
    off_rent: datetime | None,
    basis: str,
    time_zone: str,
    as_of: datetime,
    period_days: int | None = None,
) -> list[Period]:
    """The periods that started before ``off_rent`` (or, for an open contract, before ``as_of``)."""
    if basis not in BASES:
        raise ValueError(f"Unknown basis {basis!r}; expected one of {BASES}.")
    zone = ZoneInfo(time_zone)
    first = on_rent.astimezone(zone)
    until = off_rent if off_rent is not None else as_of
    nominal_seconds = (period_days or NOMINAL_DAYS[basis]) * 86_400
    periods: list[Period] = []
    n = 0
    while True:
        # Compared in UTC: aware datetimes of one zone compare by wall clock, and one in a DST fold
        # is never equal to one of another zone (PEP 495).
        start = period_start(first, basis, period_days, n)
        if utc(start) >= utc(until):
            return periods
        end = period_start(first, basis, period_days, n + 1)
        fraction = Decimal(1)
        if off_rent is not None and utc(end) > utc(off_rent):
            end = off_rent.astimezone(zone)
            fraction = min(Decimal(1), Decimal(_wall_seconds(start, end)) / Decimal(nominal_seconds))
        periods.append(Period(n, start, end, fraction))
        n += 1


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start))


def meter_at(intervals: list[Interval], moment_ms: int) -> float | None:
    """The engine-hours meter at ``moment_ms``: interpolated inside the counted interval spanning it
    (its start included: that is the reading before it, even when ``intervals`` begin there), else
    the newest reading at or before it (None before the first reading with hours)."""
    known = None
    for interval in intervals:
        if interval.end_ms <= moment_ms:
            if interval.end_meter is not None:
                known = interval.end_meter
            continue
        if (
            interval.start_ms is not None
            and interval.start_ms <= moment_ms
            and interval.hours is not None
            and interval.start_meter is not None
        ):
            share = (moment_ms - interval.start_ms) / (interval.end_ms - interval.start_ms)
            return interval.start_meter + interval.hours * share
        break
    return known


def hours_in_period(
    intervals: list[Interval], start_ms: int, end_ms: int, as_of_ms: int, gap_threshold_ms: int
) -> PeriodHours:
    """Hours used and data-gap hours of ``[start_ms, end_ms)`` from a machine's ``intervals``
    (sorted by end). Gap hours run only up to ``as_of_ms``: the future is not a gap yet."""
    used = 0.0
    covered = 0
    for interval in intervals:
        if interval.start_ms is None:  # the first reading: no interval before it
            continue
        duration = interval.end_ms - interval.start_ms
        overlap = _overlap(interval.start_ms, interval.end_ms, start_ms, end_ms)  # 0 outside the period
        if interval.hours is not None and overlap:
            used += interval.hours * overlap / duration
        if duration <= gap_threshold_ms:
            covered += _overlap(interval.start_ms, interval.end_ms, start_ms, min(end_ms, as_of_ms))
    window = max(0, min(end_ms, as_of_ms) - start_ms)
    return PeriodHours(
        used=used,
        gap_hours=(window - covered) / HOUR_MS,
        meter_start=meter_at(intervals, start_ms),
        meter_end=meter_at(intervals, min(end_ms, as_of_ms)),
    )


def hours_in_periods(
    intervals: list[Interval], bounds: list[tuple[int, int]], as_of_ms: int, gap_threshold_ms: int
) -> list[PeriodHours]:
    """``hours_in_period`` of each ``(start_ms, end_ms)``, each reading only the intervals near its
    period (found by bisection on the interval ends): a year of 5-minute readings over 365 daily
    periods is 365 short walks, not 365 walks over 105,000 intervals."""
    ends = [interval.end_ms for interval in intervals]
    result = []
    for start_ms, end_ms in bounds:
        # From the newest interval ending at or before the start (the meter there), through the
        # first one ending after the end (it spans it). The end meter is read at as_of when that
        # comes first, which for a period still in the future is before its start.
        first = max(0, bisect_right(ends, min(start_ms, as_of_ms)) - 1)
        while first > 0 and intervals[first].end_meter is None:  # back to the last known meter
            first -= 1
        last = bisect_right(ends, end_ms) + 1
        result.append(hours_in_period(intervals[first:last], start_ms, end_ms, as_of_ms, gap_threshold_ms))
    return result


def period_bounds_ms(period: Period) -> tuple[int, int]:
    return _ms(period.start), _ms(period.end)
