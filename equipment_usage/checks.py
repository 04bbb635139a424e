"""System check of the usage settings: a bad time zone or limit fails ``manage.py check``, not the
first batch of the consumer. Connects to nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error


def check_usage_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors = []
    time_zone = getattr(settings, "USAGE_TIME_ZONE", "UTC")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(
            Error(
                f"settings.USAGE_TIME_ZONE = {time_zone!r} is not an IANA time zone.",
                hint="Use a name such as 'UTC' or 'Europe/Rome'.",
                id="usage.E001",
            )
        )
    for name in (
        "USAGE_MAX_SPEED_KMH",
        "USAGE_HOURS_TOLERANCE",
        "USAGE_KM_TOLERANCE",
        "USAGE_LATE_READING_MAX_AGE_DAYS",
        "USAGE_REPRICE_MAX_AGE_DAYS",
    ):
        value = getattr(settings, name, 0)
        minimum_ok = value > 0 if name == "USAGE_MAX_SPEED_KMH" else value >= 0
        if not minimum_ok:
            errors.append(
                Error(
                    f"settings.{name} = {value!r} must be {'> 0' if name.endswith('KMH') else '>= 0'}.", id="usage.E002"
                )
            )
    return errors
