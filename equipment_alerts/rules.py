"""The rules in force: the rows of AlertRule (enabled) and, with ALERTS_BUILTIN_RULES, one fleet
rule of every kind with its defaults, as the pure engine's RuleConfig. A row that cannot be turned
into a rule (a time zone that vanished from the system's database) is logged and left out."""

from __future__ import annotations

import logging
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings

from equipment_alerts.business import KINDS, MONDAY_TO_FRIDAY, RuleConfig, Shift
from equipment_alerts.models import AlertRule

logger = logging.getLogger("telemetry.alerts")


def holidays() -> frozenset[date]:
    return frozenset(date.fromisoformat(day) for day in settings.ALERTS_HOLIDAYS)


def rule_config(row: AlertRule, days_off: frozenset[date]) -> RuleConfig:
    default = Shift()
    zone = row.time_zone or settings.ALERTS_TIME_ZONE
    ZoneInfo(zone)  # refused here, not in the middle of a batch
    return RuleConfig(
        key=row.key,
        kind=row.kind,
        scope=row.scope,
        scope_value=row.scope_value,
        threshold=row.threshold,
        duration_min=row.duration_minutes,
        site=row.site,
        time_zone=zone,
        shift=Shift(
            start=row.shift_start or default.start,
            end=row.shift_end or default.end,
            weekdays=tuple(row.shift_weekdays) if row.shift_weekdays else MONDAY_TO_FRIDAY,
            holidays=days_off,
        ),
        tank_capacity_l=settings.ALERTS_TANK_CAPACITY_L,
    )


def builtin_rules(days_off: frozenset[date]) -> list[RuleConfig]:
    return [
        RuleConfig(
            key=f"builtin:{kind}",
            kind=kind,
            time_zone=settings.ALERTS_TIME_ZONE,
            shift=Shift(holidays=days_off),
            tank_capacity_l=settings.ALERTS_TANK_CAPACITY_L,
        )
        for kind in KINDS
    ]


def rules_in_force() -> list[RuleConfig]:
    days_off = holidays()
    rules = builtin_rules(days_off) if settings.ALERTS_BUILTIN_RULES else []
    for row in AlertRule.objects.filter(enabled=True):
        try:
            rules.append(rule_config(row, days_off))
        except Exception as error:  # a broken row must not stop the consumer: logged, skipped
            logger.error("alert rule %s skipped: %s: %s", row.pk, type(error).__name__, error)
    return rules


def tank_capacity_l(model: str | None) -> float | None:
    """ALERTS_TANK_CAPACITIES (litres by machine model), else None (the rule's default)."""
    return settings.ALERTS_TANK_CAPACITIES.get(model) if model else None
