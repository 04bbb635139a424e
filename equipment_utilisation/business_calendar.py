"""Shift calendars, machine classes, zones, and the grouping of daily rows into days, weeks and months.

Pure: the ``UTILISATION_*`` settings arrive as a ``UtilisationConfig`` (``equipment_utilisation.config``
builds it and ``checks`` validates them).

- Available hours of a machine on a local date come from one calendar: its site's if the site has
  one, else its class's, else the default; a holiday (the calendar's or the global list) has none.
  The calendar gives hours per weekday, so a DST day still has 8 available hours.
- Utilisation = engine hours / available hours (may exceed 100 %, None with none available);
  calendar utilisation = engine hours / (24 h x calendar days); idle % = idle / engine hours;
  fuel l/h = fuel / engine hours when at least 0.5 engine hours.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from equipment_utilisation.business import MOTION, OFF_SITE

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUPINGS = ("day", "week", "month")
FUEL_RATE_MIN_HOURS = 0.5


@dataclass(frozen=True)
class Calendar:
    name: str
    hours: tuple[float, ...] = (8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0)  # Monday first
    holidays: frozenset[str] = frozenset()

    def available_hours(self, day: str, holidays: frozenset[str] = frozenset()) -> float:
        if day in self.holidays or day in holidays:
            return 0.0
        return self.hours[date.fromisoformat(day).weekday()]


@dataclass(frozen=True)
class UtilisationConfig:
    """Classes, sites, zones and calendars (docs/UTILISATION.md, "Settings")."""

    classes: Mapping[str, str] = field(default_factory=lambda: {"other": MOTION})  # class -> judged by
    model_classes: Mapping[str, str] = field(default_factory=dict)  # model (lower case) -> class
    default_class: str = "other"
    calendars: Mapping[str, Calendar] = field(default_factory=lambda: {"standard": Calendar("standard")})
    default_calendar: str = "standard"
    class_calendars: Mapping[str, str] = field(default_factory=dict)
    site_calendars: Mapping[str, str] = field(default_factory=dict)
    site_zones: Mapping[str, str] = field(default_factory=dict)
    machine_zones: Mapping[str, str] = field(default_factory=dict)  # a machine's home zone
    default_zone: str = "UTC"
    holidays: frozenset[str] = frozenset()

    def machine_class(self, model: str | None) -> str:
        if not model:
            return self.default_class
        return self.model_classes.get(model.strip().lower(), self.default_class)

    def judged_by(self, machine_class: str) -> str:
        return self.classes.get(machine_class, MOTION)

    def zone(self, machine: str, site: str | None) -> str:
        """The site's zone on a site, the machine's home zone off it."""
        if site is not None and site in self.site_zones:
            return self.site_zones[site]
        return self.machine_zones.get(machine, self.default_zone)

    def calendar(self, site: str | None, machine_class: str) -> Calendar:
        name = self.site_calendars.get(site or OFF_SITE) or self.class_calendars.get(machine_class)
        return self.calendars[name or self.default_calendar]

    def available_hours(self, site: str | None, machine_class: str, day: str) -> float:
        return self.calendar(site, machine_class).available_hours(day, self.holidays)


# -- periods ------------------------------------------------------------------------------------------


def period_of(day: str, group_by: str) -> tuple[str, str]:
    """The first and last date of the day, ISO week (Monday first) or month that holds ``day``."""
    value = date.fromisoformat(day)
    if group_by == "day":
        first = last = value
    elif group_by == "week":
        first = value - timedelta(days=value.weekday())
        last = first + timedelta(days=6)
    else:
        first = value.replace(day=1)
        last = value.replace(day=monthrange(value.year, value.month)[1])
    return first.isoformat(), last.isoformat()


def dates_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def ratio(numerator: float, denominator: float, minimum: float = 0.0) -> float | None:
    if denominator <= 0 or denominator < minimum:
        return None
    return numerator / denominator


@dataclass
class PeriodSummary:
    """One machine over one period (clipped to the asked range), from its daily rows."""

    machine: str
    period_start: str
    period_end: str
    machine_class: str
    site: str
    days: int  # calendar days of the period inside the range
    days_reported: int = 0
    engine_hours: float = 0.0
    available_hours: float = 0.0
    working_hours: float = 0.0
    idle_hours: float = 0.0
    stationary_hours: float = 0.0
    off_hours: float = 0.0
    no_data_hours: float = 0.0
    fuel_l: float = 0.0
    idle_runs: dict[str, int] = field(default_factory=dict)

    @property
    def utilisation(self) -> float | None:
        return ratio(self.engine_hours, self.available_hours)

    @property
    def calendar_utilisation(self) -> float | None:
        return ratio(self.engine_hours, 24.0 * self.days)

    @property
    def idle_share(self) -> float | None:
        return ratio(self.idle_hours, self.engine_hours)

    @property
    def fuel_per_hour(self) -> float | None:
        return ratio(self.fuel_l, self.engine_hours, FUEL_RATE_MIN_HOURS)


def summarise(
    rows: Iterable[Mapping], first: str, last: str, group_by: str, config: UtilisationConfig
) -> list[PeriodSummary]:
    """Daily rows (``DayRow.as_document`` shape) of ``first..last`` into one summary per machine and
    period. Available hours count every calendar day of the period inside the range, reported or
    not (a silent machine was still available), with the calendar of the machine's site and class
    of its latest row in the period."""
    by_key: dict[tuple[str, str], list[Mapping]] = {}
    for row in rows:
        if not first <= row["date"] <= last:
            continue
        period_start, _ = period_of(row["date"], group_by)
        by_key.setdefault((row["machine"], period_start), []).append(row)
    summaries = []
    for (machine, period_start), period_rows in sorted(by_key.items()):
        period_rows.sort(key=lambda row: row["date"])
        _, period_end = period_of(period_start, group_by)
        start, end = max(first, period_start), min(last, period_end)
        latest = period_rows[-1]
        days = dates_between(start, end)
        reported = {row["date"]: row for row in period_rows}
        summary = PeriodSummary(machine, start, end, latest["machine_class"], latest["site"], len(days))
        for day in days:
            row = reported.get(day)
            if row is None:
                summary.available_hours += config.available_hours(latest["site"], latest["machine_class"], day)
                summary.no_data_hours += 24.0
                continue
            summary.days_reported += 1
            summary.available_hours += row["available_hours"]
            summary.engine_hours += row["engine_hours"]
            summary.fuel_l += row["fuel_l"]
            for name in ("working", "idle", "stationary", "off", "no_data"):
                setattr(summary, f"{name}_hours", getattr(summary, f"{name}_hours") + row["hours"][name])
            for bucket, count in row["idle_runs"].items():
                summary.idle_runs[bucket] = summary.idle_runs.get(bucket, 0) + count
        summaries.append(summary)
    return summaries
