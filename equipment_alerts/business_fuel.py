"""Refuels and fuel drains from the tank level and the fuel used (pure).

Between two consecutive readings of a stationary machine, the tank gained (refuel) or lost more
than the engine burnt (drain). Consecutive such pairs less than the merge gap (15 min) apart are one
episode, and its volume is measured between its first and last reading, so sensor noise inside an
episode cancels out. A pair in which the machine moved ends the episode and counts nothing: fuel
sloshes while driving, and the level swings by several percent (docs/ALERTS.md, "Fuel").
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from equipment_alerts.business import DEFAULT_TANK_SHARE, FUEL_DRAIN, REFUEL, Finding, Reading, RuleConfig
from equipment_utilisation.business import distance_m

# A pair is moving beyond this displacement (GPS noise of a parked machine stays well under it) ...
STATIONARY_M = 50.0
# ... or this odometer increase when there is no GPS.
STATIONARY_KM = 0.05


def is_moving(before: Reading, after: Reading) -> bool:
    if None not in (before.latitude, before.longitude, after.latitude, after.longitude):
        return distance_m(before.latitude, before.longitude, after.latitude, after.longitude) > STATIONARY_M  # type: ignore[arg-type]
    if before.km is not None and after.km is not None:
        return abs(after.km - before.km) > STATIONARY_KM
    return False


def _used_between(before: Reading, after: Reading) -> float:
    if before.fuel_used_l is None or after.fuel_used_l is None:
        return 0.0
    return max(0.0, after.fuel_used_l - before.fuel_used_l)


def change_l(before: Reading, after: Reading, capacity_l: float, rising: bool) -> float:
    """Litres put in (``rising``: level gain plus what the engine burnt meanwhile) or taken out
    (level loss minus what the engine burnt) between two readings."""
    level_l = (after.level_pct - before.level_pct) / 100.0 * capacity_l  # type: ignore[operator]
    used = _used_between(before, after)
    return level_l + used if rising else -level_l - used


def fuel_threshold_l(rule: RuleConfig) -> float:
    """At least max(threshold litres, 3 % of the tank)."""
    return max(rule.limit, DEFAULT_TANK_SHARE * rule.tank_capacity_l)


def fuel_episodes(readings: Sequence[Reading], rule: RuleConfig, rising: bool) -> list[Finding]:
    """The refuels (``rising``) or drains of one machine's readings, each at least the threshold.
    An episode whose last change is less than the merge gap before the newest reading may still
    grow: its ``end`` is None."""
    kind = REFUEL if rising else FUEL_DRAIN
    with_level = [r for r in readings if r.level_pct is not None]
    episodes: list[tuple[Reading, Reading]] = []
    current: tuple[Reading, Reading] | None = None
    for before, after in itertools.pairwise(with_level):
        if is_moving(before, after):
            if current is not None:
                episodes.append(current)
            current = None
            continue
        if change_l(before, after, rule.tank_capacity_l, rising) <= 0:
            continue
        if current is not None and before.timestamp - current[1].timestamp <= rule.duration_ms:
            current = (current[0], after)
        else:
            if current is not None:
                episodes.append(current)
            current = (before, after)
    findings = []
    threshold = fuel_threshold_l(rule)
    for first, last in [*episodes, *([current] if current is not None else [])]:
        litres = change_l(first, last, rule.tank_capacity_l, rising)
        if litres >= threshold:
            # (an episode exists only when with_level has readings)
            open_ = (first, last) == current and with_level[-1].timestamp - last.timestamp <= rule.duration_ms
            end = None if open_ else last.timestamp
            findings.append(Finding(rule.key, kind, first.timestamp, end, round(litres, 3)))
    return findings


def refuels(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    return fuel_episodes(readings, rule, rising=True)


def fuel_drains(readings: Sequence[Reading], rule: RuleConfig) -> list[Finding]:
    return fuel_episodes(readings, rule, rising=False)
