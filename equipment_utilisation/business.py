"""Rules of utilisation: a machine's readings to runs (working, idle or stationary-running, off,
no data) and daily rows (docs/UTILISATION.md has the definitions and their sources).

Pure: no Django, pymongo or Kafka. The calendar (available hours) and the grouping of rows into
weeks and months are ``business_calendar``'s.

A day is computed from the machine's samples of that local day plus its two neighbours: the last
sample before the day and the first after it, so the intervals that cross a midnight are split at
it. Runs are cut at local midnight too, so that a day depends on no reading more than one sample
away from it: a late reading changes at most its own day and the two next to it, and the consumer
recomputes exactly those (``days_touched_by``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from equipment_usage.business_intervals import counter_delta
from stream.records import field as record_field
from stream.records import poi_names, section

MS_PER_SECOND = 1_000
MS_PER_HOUR = 3_600_000
EARTH_RADIUS_M = 6_371_008.8

WORKING, IDLE, STATIONARY, OFF, NO_DATA = "working", "idle", "stationary_running", "off", "no_data"
STATES = (WORKING, IDLE, STATIONARY, OFF, NO_DATA)
MOTION, STATIONARY_WORK = "motion", "stationary"  # how a class is judged
JUDGEMENTS = (MOTION, STATIONARY_WORK)
OFF_SITE = "off-site"
# Idle runs counted by length: [3, 6), [6, 9) and 9 minutes or more.
IDLE_BUCKETS = (("3_6", 180, 360), ("6_9", 360, 540), ("over_9", 540, math.inf))


@dataclass(frozen=True)
class UtilisationRules:
    """The thresholds of the definitions (``UTILISATION_*`` settings)."""

    gap_hours: float = 1.0  # an interval between readings longer than this is no data
    idle_min_seconds: float = 180.0  # a stationary run this long or longer is idle
    idle_radius_m: float = 30.0  # a run is stationary while within this distance of its start...
    idle_max_km: float = 0.05  # ...and its km delta stays below this
    hours_tolerance: float = 0.1  # usage's plausibility rule for hours_tot

    @property
    def gap_ms(self) -> float:
        return self.gap_hours * MS_PER_HOUR


@dataclass(frozen=True)
class Sample:
    """What utilisation keeps of a reading."""

    t: int  # event time, epoch ms
    hours: float | None = None
    km: float | None = None
    running: bool | None = None
    lat: float | None = None
    lon: float | None = None
    fuel: float | None = None  # used_tot_l
    site: str | None = None  # the first point of interest, None off site

    def as_list(self) -> list:
        return [self.t, self.hours, self.km, self.running, self.lat, self.lon, self.fuel, self.site]

    @classmethod
    def from_list(cls, values: Sequence) -> Sample:
        return cls(*values)


def sample_from_record(record: dict) -> Sample:
    c40 = section(record, "c40")
    odometry, gps = section(c40, "odometry"), record_field(record, "location", "GPS") or {}
    sites = poi_names(record)
    return Sample(
        t=record["timestamp"],
        hours=odometry.get("hours_tot"),
        km=odometry.get("km_tot"),
        running=section(c40, "engine").get("running"),
        lat=gps.get("latitude"),
        lon=gps.get("longitude"),
        fuel=section(c40, "fuel").get("used_tot_l"),
        site=sites[0] if sites else None,
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    # a can round to one ulp above 1 for antipodal points: 1 - a is then clamped to 0
    return 2 * EARTH_RADIUS_M * math.atan2(math.sqrt(a), math.sqrt(max(0.0, 1 - a)))


# -- local days -------------------------------------------------------------------------------------


def local_date(t: int, zone: str) -> str:
    return datetime.fromtimestamp(t / MS_PER_SECOND, ZoneInfo(zone)).date().isoformat()


def day_bounds(day: str, zone: str) -> tuple[int, int]:
    """[start, end) of a local date in epoch ms: 23 or 25 hours on a DST day."""
    tz, first = ZoneInfo(zone), date.fromisoformat(day)
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(first + timedelta(days=1), time(0), tz)
    return int(start.timestamp() * MS_PER_SECOND), int(end.timestamp() * MS_PER_SECOND)


def shifted(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def days_touched_by(day: str, merged: Sequence[Sample], added: Iterable[Sample]) -> set[str]:
    """The days whose rows samples ``added`` on ``day`` can change, ``merged`` being the day's samples
    with them: the day itself; the day before if one of them is the day's first sample (the day
    before ends with the interval to it); the day after if one is its last. Decided from the samples,
    not from whether they were new, so a replay recomputes the same days."""
    times = {sample.t for sample in added}
    days = {day}
    if merged and merged[0].t in times:
        days.add(shifted(day, -1))
    if merged and merged[-1].t in times:
        days.add(shifted(day, 1))
    return days


# -- runs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    state: str
    start: int
    end: int

    @property
    def hours(self) -> float:
        return (self.end - self.start) / MS_PER_HOUR


@dataclass
class _Piece:
    """An interval between two samples, clipped to the day."""

    start: int
    end: int
    a: Sample
    b: Sample
    fraction: float  # of the whole interval inside the day
    state: str  # WORKING (engine on), OFF or NO_DATA; runs turn some WORKING into IDLE/STATIONARY


def _pieces(samples: Sequence[Sample], day_start: int, day_end: int, rules: UtilisationRules) -> list[_Piece]:
    pieces = []
    for a, b in itertools.pairwise(samples):
        start, end = max(a.t, day_start), min(b.t, day_end)
        if end <= start:
            continue
        if b.t - a.t > rules.gap_ms:
            state = NO_DATA
        else:
            running = a.running
            if running is None:  # no engine flag: the hours counter tells
                running = a.hours is not None and b.hours is not None and b.hours > a.hours
            state = WORKING if running else OFF
        pieces.append(_Piece(start, end, a, b, (end - start) / (b.t - a.t), state))
    return pieces


def _still(origin: Sample, sample: Sample, rules: UtilisationRules) -> bool:
    """Whether ``sample`` is within the idle radius and km of a run that started at ``origin``.
    What cannot be told (no position, no km) does not count as moving."""
    known_position = None not in (origin.lat, origin.lon, sample.lat, sample.lon)
    if known_position and distance_m(origin.lat, origin.lon, sample.lat, sample.lon) > rules.idle_radius_m:
        return False
    known_km = origin.km is not None and sample.km is not None
    return not (known_km and sample.km - origin.km >= rules.idle_max_km)


def _mark_stationary_runs(pieces: list[_Piece], still_state: str, rules: UtilisationRules) -> list[tuple[int, int]]:
    """Turn the stationary runs of at least ``idle_min_seconds`` into ``still_state``; return them."""
    runs: list[tuple[int, int]] = []
    run: list[_Piece] = []

    def close() -> None:
        if run and (run[-1].end - run[0].start) >= rules.idle_min_seconds * MS_PER_SECOND:
            for piece in run:
                piece.state = still_state
            runs.append((run[0].start, run[-1].end))
        run.clear()

    for piece in pieces:
        if piece.state != WORKING or (run and run[-1].end != piece.start):
            close()
            if piece.state != WORKING:
                continue
        if _still(run[0].a if run else piece.a, piece.b, rules):
            run.append(piece)
        else:
            close()  # the machine moved: this interval is work, and a new run may start after it
    close()
    return runs


def timeline(
    samples: Sequence[Sample], day_start: int, day_end: int, judged_by: str, rules: UtilisationRules
) -> list[Run]:
    """The day's runs, back to back from ``day_start`` to ``day_end``; ``samples`` are the day's in
    event-time order with its two neighbours. Time no interval covers is no data."""
    pieces = _pieces(samples, day_start, day_end, rules)
    _mark_stationary_runs(pieces, IDLE if judged_by == MOTION else STATIONARY, rules)
    runs: list[Run] = []

    def add(state: str, start: int, end: int) -> None:  # runs are back to back: a same state extends
        if runs and runs[-1].state == state:
            runs[-1] = Run(state, runs[-1].start, end)
        else:
            runs.append(Run(state, start, end))

    cursor = day_start
    for piece in pieces:
        if piece.start > cursor:
            add(NO_DATA, cursor, piece.start)
        add(piece.state, piece.start, piece.end)
        cursor = piece.end
    if cursor < day_end:
        add(NO_DATA, cursor, day_end)
    return runs


# -- daily rows -----------------------------------------------------------------------------------------


@dataclass
class DayFigures:
    """One machine's local day, before the calendar (available hours) is applied."""

    engine_hours: float = 0.0
    fuel_l: float = 0.0
    hours: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STATES, 0.0))
    idle_runs: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _, _ in IDLE_BUCKETS})
    site: str = OFF_SITE  # where the machine reported longest during the day
    samples: int = 0


def day_figures(
    samples: Sequence[Sample], day_start: int, day_end: int, judged_by: str, rules: UtilisationRules
) -> DayFigures:
    """Engine hours (hours_tot deltas, usage's plausibility rule), fuel (used_tot_l deltas), hours by
    state and idle runs by length, each interval charged in proportion to its part inside the day."""
    figures = DayFigures()
    pieces = _pieces(samples, day_start, day_end, rules)
    still_runs = _mark_stationary_runs(pieces, IDLE if judged_by == MOTION else STATIONARY, rules)
    by_site: Counter[str] = Counter()
    for piece in pieces:
        a, b = piece.a, piece.b
        hours, _ = counter_delta("hours", a.hours, a.t, b.hours, b.t, 1.0, rules.hours_tolerance)
        figures.engine_hours += (hours or 0.0) * piece.fraction
        if a.fuel is not None and b.fuel is not None:  # a decrease counts nothing
            figures.fuel_l += max(0.0, b.fuel - a.fuel) * piece.fraction
        figures.hours[piece.state] += (piece.end - piece.start) / MS_PER_HOUR
        if piece.state != NO_DATA:
            by_site[a.site or OFF_SITE] += piece.end - piece.start
    figures.hours[NO_DATA] = (day_end - day_start) / MS_PER_HOUR - sum(
        hours for state, hours in figures.hours.items() if state != NO_DATA
    )
    if judged_by == MOTION:
        for start, end in still_runs:
            seconds = (end - start) / MS_PER_SECOND
            for name, low, high in IDLE_BUCKETS:
                if low <= seconds < high:
                    figures.idle_runs[name] += 1
    own = [sample for sample in samples if day_start <= sample.t < day_end]
    if by_site:
        figures.site = min(by_site, key=lambda site: (-by_site[site], site))
    elif own:  # a lone reading (the day has just begun): where it is
        figures.site = own[0].site or OFF_SITE
    figures.samples = len(own)
    return figures


def neighbours_window(before: Sequence[Sample], day: Sequence[Sample], after: Sequence[Sample]) -> list[Sample]:
    """The day's samples with the last one before and the first one after, in event-time order."""
    window = list(day)
    if before:
        window.insert(0, before[-1])
    if after:
        window.append(after[0])
    return window


def merge_samples(stored: Sequence[Sample], new: Sequence[Sample]) -> tuple[list[Sample], bool]:
    """``stored`` with ``new`` added in event-time order; a sample at an event time already stored is
    a replay or a duplicate and changes nothing (the first one kept wins). Also whether it changed."""
    by_time = {sample.t: sample for sample in stored}
    changed = False
    for sample in new:
        if sample.t not in by_time:
            by_time[sample.t] = sample
            changed = True
    return [by_time[t] for t in sorted(by_time)], changed
