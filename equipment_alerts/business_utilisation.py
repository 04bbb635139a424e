"""excessive_idle and low_util (pure), on utilisation's definitions (equipment_utilisation.business,
docs/UTILISATION.md): an idle run is a stationary run of the engine of at least 3 minutes, cut at
local midnight; the idle share of a day is idle hours / engine hours; utilisation is engine hours /
available hours of the machine's shift calendar.

excessive_idle is judged on messages, over the consumer's window: an idle run longer than the
duration (30 min), or a local day whose idle share is above the threshold (30 %) with at least
one engine hour (a machine started for five idle minutes is no finding). low_util runs on the
clock over utilisation's daily rows (the consumer's window is 48 h, the rule's 7 days).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from equipment_alerts.business import EXCESSIVE_IDLE, LOW_UTIL, Finding, Reading, RuleConfig
from equipment_utilisation.business import IDLE, MOTION, Sample, UtilisationRules, day_figures, timeline

# The daily idle share is judged on days with at least this many engine hours.
MIN_ENGINE_HOURS = 1.0
DAY_SHARE = "/day"  # the rule key suffix of the daily-share findings: alerts of their own


def sample_of(reading: Reading) -> Sample:
    site = reading.pois[0] if reading.pois else None
    return Sample(
        reading.timestamp,
        reading.hours,
        reading.km,
        reading.running,
        reading.latitude,
        reading.longitude,
        reading.fuel_used_l,
        site,
    )


def local_days(first_ms: int, last_ms: int, zone: ZoneInfo) -> list[tuple[int, int]]:
    """[start, end) in epoch ms of every local day from the one of ``first_ms`` to ``last_ms``'s."""
    day = datetime.fromtimestamp(first_ms / 1000, zone).date()
    last = datetime.fromtimestamp(last_ms / 1000, zone).date()
    days = []
    while day <= last:
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        days.append((int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
        day += timedelta(days=1)
    return days


def excessive_idle(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    if len(readings) < 2:
        return []
    samples = [sample_of(r) for r in readings]
    newest = readings[-1].timestamp
    rules = UtilisationRules()
    findings = []
    for day_start, day_end in local_days(readings[0].timestamp, newest, ZoneInfo(rule.time_zone)):
        for run in timeline(samples, day_start, day_end, MOTION, rules):
            if run.state == IDLE and run.end - run.start > rule.duration_ms:
                # A run up to the newest reading, engine not off there, may go on; one cut at midnight continues
                # as the next day's run (a finding of its own).
                still_on = run.end >= newest and readings[-1].running is not False
                end = None if still_on else run.end
                findings.append(Finding(rule.key, EXCESSIVE_IDLE, run.start, end, (run.end - run.start) / 60_000))
        figures = day_figures(samples, day_start, day_end, MOTION, rules)
        if figures.engine_hours >= MIN_ENGINE_HOURS:
            share = 100.0 * figures.hours[IDLE] / figures.engine_hours
            if share > rule.limit:
                end = day_end if newest >= day_end else None
                findings.append(
                    Finding(rule.key + DAY_SHARE, EXCESSIVE_IDLE, day_start, end, round(share, 3), "daily idle share")
                )
    return findings


def seven_day_utilisation(rows: Sequence[dict]) -> float | None:
    """Engine hours / available hours (percent) of utilisation's daily rows; None with none available."""
    available = sum(row.get("available_hours") or 0.0 for row in rows)
    if available <= 0:
        return None
    return 100.0 * sum(row.get("engine_hours") or 0.0 for row in rows) / available


def low_util_finding(rule: RuleConfig, rows: Sequence[dict], judged_at: int, open_since: int | None) -> Finding | None:
    """A low_util finding when the 7 days' utilisation is under the threshold (35 %): it starts at
    ``open_since`` (the open alert's start) or ``judged_at`` (the midnight after the 7 days) and
    stays open while the utilisation stays low; None otherwise (the open alert is then resolved)."""
    utilisation = seven_day_utilisation(rows)
    if utilisation is None or utilisation >= rule.limit:
        return None
    start = open_since if open_since is not None else judged_at
    return Finding(rule.key, LOW_UTIL, start, None, round(utilisation, 3), "7-day utilisation %")
