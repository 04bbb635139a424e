"""System check: every dotted path in the telemetry settings imports. Connects to nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error
from django.utils.module_loading import import_string

BACKEND_SETTINGS = (
    "TELEMETRY_DATABASES",
    "TELEMETRY_REPOSITORIES",
    "TELEMETRY_SCHEMA_REGISTRIES",
    "TELEMETRY_CODECS",
    "TELEMETRY_KAFKA",
    "HISTORY_ARCHIVES",
)


def _dotted_paths() -> list[tuple[str, str]]:
    paths = []
    for setting in BACKEND_SETTINGS:
        for alias, params in getattr(settings, setting, {}).items():
            paths.append((f"{setting}[{alias!r}]['BACKEND']", params.get("BACKEND", "")))
    for name, definition in getattr(settings, "TELEMETRY_SERVICES", {}).items():
        for key in ("HANDLER", "VALIDATOR"):
            if key in definition:
                paths.append((f"TELEMETRY_SERVICES[{name!r}][{key!r}]", definition[key]))
    return paths


def check_backends(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for where, path in _dotted_paths():
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                Error(
                    f"settings.{where} = {path!r} cannot be imported: {exc}",
                    hint="Fix the dotted path (module.attribute) in settings or in the environment.",
                    id="telemetry.E001",
                )
            )
    return errors


def check_observability(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """METRICS_PORT and LOG_FORMAT hold values the consumers and the logging set-up can use."""
    errors = []
    port = getattr(settings, "METRICS_PORT", 0)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        errors.append(
            Error(
                f"settings.METRICS_PORT = {port!r} is not a TCP port.",
                hint="Set METRICS_PORT to a port number from 1 to 65535, or 0 to serve no metrics.",
                id="telemetry.E018",
            )
        )
    log_format = getattr(settings, "LOG_FORMAT", "line")
    if log_format not in ("line", "json"):
        errors.append(
            Error(
                f"settings.LOG_FORMAT = {log_format!r} is not a log format.",
                hint="Set LOG_FORMAT to 'line' (readable, the default) or 'json' (one object per line).",
                id="telemetry.E019",
            )
        )
    return errors
