"""The ``UTILISATION_*`` settings as the pure rules' values (read when first asked, never at import)."""

from __future__ import annotations

from typing import Any

from equipment_utilisation.business import UtilisationRules
from equipment_utilisation.business_calendar import WEEKDAYS, Calendar, UtilisationConfig


def calendar_from_setting(name: str, value: dict[str, Any]) -> Calendar:
    hours = value.get("HOURS", {})
    return Calendar(
        name=name,
        hours=tuple(float(hours.get(day, 0.0)) for day in WEEKDAYS),
        holidays=frozenset(str(day) for day in value.get("HOLIDAYS", ())),
    )


def utilisation_config() -> UtilisationConfig:
    from django.conf import settings

    sites = settings.UTILISATION_SITES
    return UtilisationConfig(
        classes={name: value["JUDGED_BY"] for name, value in settings.UTILISATION_CLASSES.items()},
        model_classes={model.strip().lower(): name for model, name in settings.UTILISATION_MODEL_CLASSES.items()},
        default_class=settings.UTILISATION_DEFAULT_CLASS,
        calendars={name: calendar_from_setting(name, value) for name, value in settings.UTILISATION_CALENDARS.items()},
        default_calendar=settings.UTILISATION_DEFAULT_CALENDAR,
        class_calendars={
            name: value["CALENDAR"] for name, value in settings.UTILISATION_CLASSES.items() if value.get("CALENDAR")
        },
        site_calendars={name: value["CALENDAR"] for name, value in sites.items() if value.get("CALENDAR")},
        site_zones={name: value["TIME_ZONE"] for name, value in sites.items() if value.get("TIME_ZONE")},
        machine_zones=dict(settings.UTILISATION_MACHINE_TIME_ZONES),
        default_zone=settings.UTILISATION_TIME_ZONE,
        holidays=frozenset(str(day) for day in settings.UTILISATION_HOLIDAYS),
    )


def utilisation_rules() -> UtilisationRules:
    from django.conf import settings

    return UtilisationRules(
        gap_hours=settings.UTILISATION_DATA_GAP_HOURS,
        idle_min_seconds=settings.UTILISATION_IDLE_MIN_SECONDS,
        idle_radius_m=settings.UTILISATION_IDLE_RADIUS_M,
        idle_max_km=settings.UTILISATION_IDLE_MAX_KM,
        hours_tolerance=settings.USAGE_HOURS_TOLERANCE,
    )
