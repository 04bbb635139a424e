"""System check of the history settings: a retention that MongoDB would refuse fails ``manage.py
check`` (and every command's start), not the history consumer's first ``create_index``. Connects to
nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error
from django.utils.module_loading import import_string

from equipment_history.repository import KEEP_FOREVER, MAX_RETENTION_DAYS, MONGODB_MAX_TTL_SECONDS


def _position_repositories() -> list[tuple[str, dict]]:
    from equipment_history.repository import PositionRepository

    found = []
    for alias, params in getattr(settings, "TELEMETRY_REPOSITORIES", {}).items():
        try:
            backend = import_string(params.get("BACKEND", ""))
        except ImportError:
            continue  # telemetry.E001 reports it
        if isinstance(backend, type) and issubclass(backend, PositionRepository):
            found.append((alias, params.get("OPTIONS", {})))
    return found


def check_history_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for alias, options in _position_repositories():
        days = options.get("retention_days", 30)
        where = f"settings.TELEMETRY_REPOSITORIES[{alias!r}]['OPTIONS']['retention_days']"
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            errors.append(
                Error(
                    f"{where} = {days!r} is not a whole number of days >= 0.",
                    hint=f"Set HISTORY_RETENTION_DAYS to a number of days, or {KEEP_FOREVER} to keep positions "
                    "forever.",
                    id="history.E001",
                )
            )
        elif days > MAX_RETENTION_DAYS:
            errors.append(
                Error(
                    f"{where} = {days} days is {days * 86400:,} s, above MongoDB's TTL limit of "
                    f"{MONGODB_MAX_TTL_SECONDS:,} s ({MAX_RETENTION_DAYS:,} days): the server would refuse the index.",
                    hint=f"Set HISTORY_RETENTION_DAYS to at most {MAX_RETENTION_DAYS}, "
                    f"or to {KEEP_FOREVER} to keep positions forever.",
                    id="history.E001",
                )
            )
    return errors
