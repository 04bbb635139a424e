"""System check of the UTILISATION_* settings: an unknown class, zone or calendar fails
``manage.py check`` (and every command) naming it and the fix, not the first batch. Connects to nothing."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from django.conf import settings
from django.core.checks import Error

from equipment_utilisation.business import JUDGEMENTS
from equipment_utilisation.business_calendar import WEEKDAYS


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _zone_error(setting: str, zone: Any) -> Error | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return Error(
            f"settings.{setting} = {zone!r} is not an IANA time zone.",
            hint="Use a name such as 'UTC' or 'Europe/Rome'.",
            id="utilisation.E001",
        )
    return None


def _calendar_errors(name: Any, value: Any) -> list[Error]:
    where = f"settings.UTILISATION_CALENDARS[{name!r}]"
    if not isinstance(value, dict) or set(value) - {"HOURS", "HOLIDAYS"}:
        return [Error(f"{where} must be a dict with HOURS and HOLIDAYS.", id="utilisation.E002")]
    errors = []
    hours = value.get("HOURS", {})
    if not isinstance(hours, dict) or set(hours) - set(WEEKDAYS):
        errors.append(
            Error(f"{where}['HOURS'] must map weekdays to hours.", hint=f"keys among {WEEKDAYS}", id="utilisation.E002")
        )
    elif any(not _number(h) or not 0 <= h <= 24 for h in hours.values()):
        errors.append(Error(f"{where}['HOURS'] must be numbers from 0 to 24.", id="utilisation.E002"))
    errors.extend(_holiday_errors(f"{where}['HOLIDAYS']", value.get("HOLIDAYS", [])))
    return errors


def _holiday_errors(where: str, holidays: Any) -> list[Error]:
    if not isinstance(holidays, list | tuple):
        return [Error(f"{where} must be a list of YYYY-MM-DD dates.", id="utilisation.E002")]
    errors = []
    for day in holidays:
        try:
            date.fromisoformat(str(day))
        except ValueError:
            errors.append(Error(f"{where} has {day!r}, not a YYYY-MM-DD date.", id="utilisation.E002"))
    return errors


def check_utilisation_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error | None] = [
        _zone_error("UTILISATION_TIME_ZONE", getattr(settings, "UTILISATION_TIME_ZONE", None))
    ]
    calendars = getattr(settings, "UTILISATION_CALENDARS", {})
    classes = getattr(settings, "UTILISATION_CLASSES", {})
    for name, value in calendars.items():
        errors.extend(_calendar_errors(name, value))

    def known_calendar(where: str, calendar: Any) -> None:
        if calendar is not None and calendar not in calendars:
            errors.append(
                Error(
                    f"{where} names the calendar {calendar!r}, which is not in settings.UTILISATION_CALENDARS.",
                    hint=f"One of {sorted(calendars)}, or add it.",
                    id="utilisation.E003",
                )
            )

    known_calendar("settings.UTILISATION_DEFAULT_CALENDAR", getattr(settings, "UTILISATION_DEFAULT_CALENDAR", None))
    for name, value in classes.items():
        if not isinstance(value, dict) or value.get("JUDGED_BY") not in JUDGEMENTS:
            errors.append(
                Error(
                    f"settings.UTILISATION_CLASSES[{name!r}] must have JUDGED_BY 'motion' or 'stationary'.",
                    hint="'motion' for haulers and dumpers (idle), 'stationary' for excavators, cranes, generators.",
                    id="utilisation.E004",
                )
            )
            continue
        known_calendar(f"settings.UTILISATION_CLASSES[{name!r}]['CALENDAR']", value.get("CALENDAR"))

    def known_class(where: str, machine_class: Any) -> None:
        if machine_class not in classes:
            errors.append(
                Error(
                    f"{where} names the class {machine_class!r}, which is not in settings.UTILISATION_CLASSES.",
                    hint=f"One of {sorted(classes)}, or add it.",
                    id="utilisation.E005",
                )
            )

    known_class("settings.UTILISATION_DEFAULT_CLASS", getattr(settings, "UTILISATION_DEFAULT_CLASS", None))
    for model, machine_class in getattr(settings, "UTILISATION_MODEL_CLASSES", {}).items():
        known_class(f"settings.UTILISATION_MODEL_CLASSES[{model!r}]", machine_class)
    for site, value in getattr(settings, "UTILISATION_SITES", {}).items():
        if not isinstance(value, dict) or set(value) - {"TIME_ZONE", "CALENDAR"}:
            errors.append(
                Error(
                    f"settings.UTILISATION_SITES[{site!r}] must be a dict of TIME_ZONE, CALENDAR.",
                    id="utilisation.E006",
                )
            )
            continue
        if "TIME_ZONE" in value:
            errors.append(_zone_error(f"UTILISATION_SITES[{site!r}]['TIME_ZONE']", value["TIME_ZONE"]))
        known_calendar(f"settings.UTILISATION_SITES[{site!r}]['CALENDAR']", value.get("CALENDAR"))
    for machine, zone in getattr(settings, "UTILISATION_MACHINE_TIME_ZONES", {}).items():
        errors.append(_zone_error(f"UTILISATION_MACHINE_TIME_ZONES[{machine!r}]", zone))
    errors.extend(_holiday_errors("settings.UTILISATION_HOLIDAYS", getattr(settings, "UTILISATION_HOLIDAYS", [])))
    for name in (
        "UTILISATION_DATA_GAP_HOURS",
        "UTILISATION_IDLE_MIN_SECONDS",
        "UTILISATION_IDLE_RADIUS_M",
        "UTILISATION_IDLE_MAX_KM",
    ):
        value = getattr(settings, name, None)
        if not _number(value) or value <= 0:
            errors.append(Error(f"settings.{name} = {value!r} must be a number > 0.", id="utilisation.E007"))
    return [error for error in errors if error is not None]
