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
