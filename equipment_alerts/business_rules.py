"""The message-driven rules (pure): each takes one machine's readings sorted by event time and a
rule, and returns its findings. The fuel rules are in business_fuel.py, silence in business_silent.py.

A finding whose ``end`` is None is still on at the newest reading; an alert opened from it is
resolved when a later evaluation finds it ended (docs/ALERTS.md, "Lifecycle").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from equipment_alerts.business import (
    AFTER_HOURS,
    HOUR_MS,
    LOW_FUEL,
    METER_ANOMALY,
    MINUTE_MS,
    MOVED_WHILE_OFF,
    OVER_BASELINE,
    SITE_EXIT,
    Finding,
    Reading,
    RuleConfig,
    Shift,
)
from equipment_utilisation.business import distance_m  # one haversine for the rules of both apps

# Readings further apart than this break a running span: what happened between is unknown, and a
# machine parked for the weekend with its last reading "running" has not run all weekend.
DATA_GAP_MS = 60 * MINUTE_MS


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _local_date(ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, zone).date()


def shift_windows(start_ms: int, end_ms: int, shift: Shift, zone: ZoneInfo) -> Iterator[tuple[int, int]]:
    """The working windows (UTC ms) of the local days that ``start_ms..end_ms`` touches, in order."""
    day, last = _local_date(start_ms, zone), _local_date(end_ms, zone)
    while day <= last:
        if day.weekday() in shift.weekdays and day not in shift.holidays:
            opens = _ms(datetime.combine(day, shift.start, zone))
            closes = _ms(datetime.combine(day, shift.end, zone))
            if closes > opens:
                yield opens, closes
        day += timedelta(days=1)


def off_shift_segments(start_ms: int, end_ms: int, shift: Shift, zone: ZoneInfo) -> list[tuple[int, int]]:
    """``start_ms..end_ms`` minus the working windows: the parts outside the shift."""
    segments, cursor = [], start_ms
    for opens, closes in shift_windows(start_ms, end_ms, shift, zone):
        stop = min(opens, end_ms)
        if stop > cursor:
            segments.append((cursor, stop))
        cursor = max(cursor, closes)
    if cursor < end_ms:
        segments.append((cursor, end_ms))
    return segments


def running_spans(readings: Sequence[Reading], gap_ms: int = DATA_GAP_MS) -> list[tuple[int, int, bool]]:
    """(start, end, ongoing) of each run of the engine: from the first reading running to the first
    reading not running (or, across a data gap, the last reading running). Unknown (None) readings
    neither start nor end a run."""
    spans: list[tuple[int, int, bool]] = []
    start: int | None = None
    previous: Reading | None = None
    for reading in readings:
        if start is not None and previous is not None and reading.timestamp - previous.timestamp > gap_ms:
            spans.append((start, previous.timestamp, False))
            start = None
        if reading.running is True and start is None:
            start = reading.timestamp
        elif reading.running is False and start is not None:
            spans.append((start, reading.timestamp, False))
            start = None
        previous = reading
    if start is not None and previous is not None:
        spans.append((start, previous.timestamp, True))
    return spans


def after_hours(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """Engine running outside the shift for more than the grace (strictly), one finding per
    off-shift part of a run; weekend days and holidays are off-shift all day."""
    zone = ZoneInfo(rule.time_zone)
    findings = []
    for start, end, ongoing in running_spans(readings):
        for seg_start, seg_end in off_shift_segments(start, end, rule.shift, zone):
            if seg_end - seg_start > rule.duration_ms:
                still_on = ongoing and seg_end == end
                minutes = (seg_end - seg_start) / MINUTE_MS
                findings.append(Finding(rule.key, AFTER_HOURS, seg_start, None if still_on else seg_end, minutes))
    return findings


def _local_midnight(ms: int, zone: ZoneInfo, days: int = 0) -> int:
    local = _local_date(ms, zone) + timedelta(days=days)
    return _ms(datetime.combine(local, datetime.min.time(), zone))


def daily_engine_hours(readings: Sequence[Reading], zone: ZoneInfo, tolerance_h: float = 0.25) -> dict[int, float]:
    """Engine hours per local day (keyed by its midnight, UTC ms) from the hour meter's increases
    between consecutive readings, split across midnights in proportion to time. An increase the
    meter could not have made (down, or faster than the clock + tolerance) counts nothing: that is
    meter_anomaly's business."""
    days: dict[int, float] = {}
    with_meter = [r for r in readings if r.hours is not None]
    for before, after in itertools.pairwise(with_meter):
        elapsed_ms = after.timestamp - before.timestamp
        delta = after.hours - before.hours  # type: ignore[operator]
        if delta < 0 or delta > elapsed_ms / HOUR_MS + tolerance_h:
            continue  # (two readings at one instant add nothing either: the loop below is empty)
        cursor = before.timestamp
        while cursor < after.timestamp:
            midnight = _local_midnight(cursor, zone)
            part_end = min(after.timestamp, _local_midnight(cursor, zone, 1))
            days[midnight] = days.get(midnight, 0.0) + delta * (part_end - cursor) / elapsed_ms
            cursor = part_end
    return days


def over_baseline(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """A local day with more engine hours than the baseline: one finding from its midnight (a stable
    start, so the alert id does not move with the readings), resolved at the next midnight once a
    reading shows the day is over."""
    if not readings:
        return []
    zone = ZoneInfo(rule.time_zone)
    newest = readings[-1].timestamp
    findings = []
    for midnight, hours in sorted(daily_engine_hours(readings, zone).items()):
        if hours > rule.limit:
            next_midnight = _local_midnight(midnight, zone, 1)
            end = next_midnight if newest >= next_midnight else None
            findings.append(Finding(rule.key, OVER_BASELINE, midnight, end, round(hours, 6)))
    return findings


def site_exit(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """The assigned site missing from the points of interest in at least 2 readings spanning at least
    the duration (5 min); readings without a list (unknown) are skipped. Resolved by the first
    reading back in the site."""
    site = rule.assigned_site
    if not site:
        return []
    findings = []
    outside: list[int] = []
    for reading in readings:
        if reading.pois is None:
            continue
        if site in reading.pois:
            if len(outside) >= 2 and outside[-1] - outside[0] >= rule.duration_ms:
                findings.append(_site_finding(rule, outside, reading.timestamp))
            outside = []
        else:
            outside.append(reading.timestamp)
    if len(outside) >= 2 and outside[-1] - outside[0] >= rule.duration_ms:
        findings.append(_site_finding(rule, outside, None))
    return findings


def _site_finding(rule: RuleConfig, outside: list[int], end: int | None) -> Finding:
    minutes = ((end if end is not None else outside[-1]) - outside[0]) / MINUTE_MS
    return Finding(rule.key, SITE_EXIT, outside[0], end, minutes, rule.assigned_site)


def moved_while_off(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """With the engine off, a position more than the threshold (200 m) from where it was first seen
    off: opens at that reading, resolved when the engine runs again. Value: the largest distance."""
    findings = []
    anchor: tuple[float, float] | None = None
    start: int | None = None
    farthest = 0.0
    for reading in readings:
        if reading.running is True:
            if start is not None:
                findings.append(Finding(rule.key, MOVED_WHILE_OFF, start, reading.timestamp, round(farthest, 1)))
            anchor, start, farthest = None, None, 0.0
            continue
        if reading.running is not False or reading.latitude is None or reading.longitude is None:
            continue
        if anchor is None:
            anchor = (reading.latitude, reading.longitude)
            continue
        distance = distance_m(anchor[0], anchor[1], reading.latitude, reading.longitude)
        if distance > rule.limit:
            start = reading.timestamp if start is None else start
            farthest = max(farthest, distance)
    if start is not None:
        findings.append(Finding(rule.key, MOVED_WHILE_OFF, start, None, round(farthest, 1)))
    return findings


def low_fuel(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """The tank level below the threshold (15 %) for at least the duration (10 min): from the first
    low reading; resolved by the first reading at or above the threshold. Value: minutes below."""
    findings = []
    low: list[int] = []
    for reading in readings:
        if reading.level_pct is None:
            continue
        if reading.level_pct < rule.limit:
            low.append(reading.timestamp)
            continue
        if low and reading.timestamp - low[0] >= rule.duration_ms:
            minutes = (reading.timestamp - low[0]) / MINUTE_MS
            findings.append(Finding(rule.key, LOW_FUEL, low[0], reading.timestamp, minutes))
        low = []
    if low and low[-1] - low[0] >= rule.duration_ms:
        findings.append(Finding(rule.key, LOW_FUEL, low[0], None, (low[-1] - low[0]) / MINUTE_MS))
    return findings


def meter_anomaly(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    """The hour meter going down, or up faster than the elapsed time plus the tolerance (0.25 h),
    between consecutive readings: an instant finding at the later reading (value: the change)."""
    findings = []
    with_meter = [r for r in readings if r.hours is not None]
    for before, after in itertools.pairwise(with_meter):
        delta = after.hours - before.hours  # type: ignore[operator]
        elapsed_h = (after.timestamp - before.timestamp) / HOUR_MS
        if delta < 0:
            detail = "down"
        elif delta > elapsed_h + rule.limit:
            detail = "faster than time"
        else:
            continue
        findings.append(Finding(rule.key, METER_ANOMALY, after.timestamp, after.timestamp, round(delta, 6), detail))
    return findings
