"""System check of the connectors' settings: a bad value fails ``manage.py check`` naming it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error

LIMITS = {
    "CONNECTORS_TIMEOUT_SECONDS": (0.1, 600.0),
    "CONNECTORS_MAX_PAGE_BYTES": (1024, 512 * 1024 * 1024),
    "CONNECTORS_MAX_PAGES": (1, 1_000_000),
}


def check_connector_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for number, (name, (low, high)) in enumerate(LIMITS.items(), start=1):
        value = getattr(settings, name, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            errors.append(
                Error(
                    f"settings.{name} is {value!r}; it must be a number from {low:g} to {high:g}.",
                    hint=f"Set the environment variable {name} to such a number, or unset it for the default.",
                    id=f"connectors.E00{number}",
                )
            )
    return errors
