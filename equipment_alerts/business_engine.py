"""Runs the configured rules over a machine's readings (pure). A rule that raises is reported, not
propagated: one bad rule (a broken configuration, a reading no test foresaw) must not stop the
consumer nor the other rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from equipment_alerts.business import (
    AFTER_HOURS,
    EXCESSIVE_IDLE,
    FUEL_DRAIN,
    LOW_FUEL,
    METER_ANOMALY,
    MOVED_WHILE_OFF,
    OVER_BASELINE,
    REFUEL,
    SITE_EXIT,
    Finding,
    Reading,
    RuleConfig,
)
from equipment_alerts.business_fuel import fuel_drains, refuels
from equipment_alerts.business_rules import (
    after_hours,
    low_fuel,
    meter_anomaly,
    moved_while_off,
    over_baseline,
    site_exit,
)
from equipment_alerts.business_utilisation import excessive_idle

RuleFunction = Callable[[Sequence[Reading], RuleConfig], list[Finding]]

# The rules judged on messages; silent and low_util run on the clock (business_silent,
# business_utilisation).
MESSAGE_RULES: dict[str, RuleFunction] = {
    AFTER_HOURS: after_hours,
    OVER_BASELINE: over_baseline,
    SITE_EXIT: site_exit,
    MOVED_WHILE_OFF: moved_while_off,
    LOW_FUEL: low_fuel,
    REFUEL: refuels,
    FUEL_DRAIN: fuel_drains,
    METER_ANOMALY: meter_anomaly,
    EXCESSIVE_IDLE: excessive_idle,
}


def in_event_order(readings: Sequence[Reading]) -> list[Reading]:
    """Sorted by event time, one reading per timestamp (the first one kept: a duplicate sent twice
    is the same reading)."""
    seen: dict[int, Reading] = {}
    for reading in readings:
        seen.setdefault(reading.timestamp, reading)
    return [seen[ts] for ts in sorted(seen)]


def evaluate(readings: Sequence[Reading], rules: Sequence[RuleConfig]) -> tuple[list[Finding], list[tuple[str, str]]]:
    """The findings of every message rule in ``rules`` over ``readings`` (in event order), and the
    (rule key, error) of each rule that failed."""
    ordered = in_event_order(readings)
    findings: list[Finding] = []
    failures: list[tuple[str, str]] = []
    for rule in rules:
        function = MESSAGE_RULES.get(rule.kind)
        if function is None:
            continue
        try:
            findings.extend(function(ordered, rule))
        except Exception as error:  # any bug of one rule: reported, the rest go on
            failures.append((rule.key, f"{type(error).__name__}: {error}"[:500]))
    return findings, failures
