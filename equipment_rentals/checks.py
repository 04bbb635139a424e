"""System check of the RENTALS_* settings: a bad value fails ``manage.py check`` (naming the setting
and the fix), not the first statement. Connects to nothing."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.checks import Error


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_rentals_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors = []
    time_zone = getattr(settings, "RENTALS_TIME_ZONE", "UTC")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors.append(
            Error(
                f"settings.RENTALS_TIME_ZONE = {time_zone!r} is not an IANA time zone.",
                hint="Use a name such as 'UTC' or 'Europe/Rome'.",
                id="rentals.E001",
            )
        )
    for name, fix in (
        ("RENTALS_DATA_GAP_HOURS", "hours between readings over which there is no data, e.g. 1.0"),
        ("RENTALS_EXPORT_MAX_ROWS", "the most rows of one export, e.g. 100000"),
    ):
        value = getattr(settings, name, None)
        if not _number(value) or value <= 0:
            errors.append(Error(f"settings.{name} = {value!r} must be a number > 0.", hint=fix, id="rentals.E002"))
    recompute = getattr(settings, "RENTALS_RECOMPUTE_DAYS", None)
    late = getattr(settings, "USAGE_LATE_READING_MAX_AGE_DAYS", 0)
    if not _number(recompute) or recompute < late:
        errors.append(
            Error(
                f"settings.RENTALS_RECOMPUTE_DAYS = {recompute!r} must be a number >= "
                f"USAGE_LATE_READING_MAX_AGE_DAYS ({late!r}).",
                hint="A late reading could otherwise change hours a statement no longer reads.",
                id="rentals.E003",
            )
        )
    if not isinstance(getattr(settings, "RENTALS_TOPIC", None), str) or not settings.RENTALS_TOPIC:
        errors.append(
            Error("settings.RENTALS_TOPIC must be a topic name.", hint="e.g. data.c40.rentals", id="rentals.E004")
        )
    return errors
