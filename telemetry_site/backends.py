"""Lazy registries of the project's pluggable parts, built the way Django builds ``STORAGES``.

Each registry reads one setting — a dict of aliases, each ``{"BACKEND": "dotted.path",
"OPTIONS": {...}}`` — on first use, builds an alias with ``import_string(BACKEND)(**OPTIONS)``,
caches it, and forgets everything when a test changes the setting (``setting_changed``, wired in
``TelemetrySiteConfig.ready``). Creating the registries at import time opens nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


class BackendHandler:
    """A dict of aliases, each built on first use from ``settings.<setting_name>``."""

    setting_name: str = ""

    def __init__(
        self,
        backends: dict[str, dict] | None = None,
        setting_name: str | None = None,
        depends_on: tuple[BackendHandler, ...] = (),
    ) -> None:
        if setting_name:
            self.setting_name = setting_name
        # Registries whose instances this one's instances hold (a repository holds a database):
        # when one of them is reset, this one is reset too.
        self.depends_on = depends_on
        self._configured = backends
        self._instances: dict[str, Any] = {}
        self._lock = threading.RLock()

    @property
    def backends(self) -> dict[str, dict]:
        if self._configured is not None:
            return self._configured
        return getattr(settings, self.setting_name, {})

    def __getitem__(self, alias: str) -> Any:
        try:
            return self._instances[alias]
        except KeyError:
            pass
        with self._lock:
            if alias not in self._instances:
                try:
                    params = self.backends[alias]
                except KeyError:
                    raise ImproperlyConfigured(
                        f"Could not find config for {alias!r} in settings.{self.setting_name}; "
                        f"known aliases: {sorted(self.backends)}."
                    ) from None
                self._instances[alias] = self.create(alias, params)
            return self._instances[alias]

    def load_backend(self, alias: str, params: dict) -> Any:
        backend = params.get("BACKEND")
        if not backend:
            raise ImproperlyConfigured(f"settings.{self.setting_name}[{alias!r}] has no BACKEND.")
        try:
            return import_string(backend)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Could not import {backend!r} named by settings.{self.setting_name}[{alias!r}]"
                f"['BACKEND']: {exc}. Fix the dotted path."
            ) from exc

    def create(self, alias: str, params: dict) -> Any:
        return self.load_backend(alias, params)(**params.get("OPTIONS", {}))

    def reset(self) -> None:
        """Forget every built instance; the next lookup rebuilds it from the current settings."""
        with self._lock:
            self._instances.clear()


class DatabaseHandler(BackendHandler):
    """Aliases of pymongo ``Database`` objects."""

    setting_name = "TELEMETRY_DATABASES"


class RepositoryHandler(BackendHandler):
    """Aliases of repositories; OPTIONS["database"] names a database alias."""

    setting_name = "TELEMETRY_REPOSITORIES"

    def __init__(self, backends: dict[str, dict] | None = None, databases: DatabaseHandler | None = None) -> None:
        super().__init__(backends, depends_on=(databases or _default_databases(),))
        self.databases = databases

    def create(self, alias: str, params: dict) -> Any:
        options = dict(params.get("OPTIONS", {}))
        handler = self.databases if self.databases is not None else databases
        options["database"] = handler[options.get("database", "default")]
        repository = self.load_backend(alias, params)(**options)
        # Indexes are part of a repository's contract (uniqueness makes replays harmless), so they
        # exist before its first use; create_index is idempotent on the server.
        ensure_indexes = getattr(repository, "ensure_indexes", None)
        if ensure_indexes is not None:
            ensure_indexes()
        return repository


class CodecHandler(BackendHandler):
    """Aliases of message codecs; OPTIONS["registry"] names a schema-registry alias."""

    setting_name = "TELEMETRY_CODECS"

    def create(self, alias: str, params: dict) -> Any:
        options = dict(params.get("OPTIONS", {}))
        if isinstance(options.get("registry"), str):
            options["registry"] = schema_registries[options["registry"]]
        return self.load_backend(alias, params)(**options)


def _default_databases() -> DatabaseHandler:
    return databases


databases = DatabaseHandler()
repositories = RepositoryHandler()
schema_registries = BackendHandler(setting_name="TELEMETRY_SCHEMA_REGISTRIES")
codecs = CodecHandler(depends_on=(schema_registries,))
kafka = BackendHandler(setting_name="TELEMETRY_KAFKA")
history_archives = BackendHandler(setting_name="HISTORY_ARCHIVES")
# Where files the apps write go (alert reports): a folder or an object store (telemetry_site.file_store).
file_stores = BackendHandler(setting_name="TELEMETRY_FILE_STORES")

ALL_HANDLERS: list[BackendHandler] = [
    databases,
    repositories,
    schema_registries,
    codecs,
    kafka,
    history_archives,
    file_stores,
]


def reset_backends(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: reset the registry built from ``setting`` and every registry
    whose instances hold one of its instances. Other registries keep theirs: a test that changes
    the topic names keeps its in-process database and schema registry."""
    stale = {handler for handler in ALL_HANDLERS if handler.setting_name == setting}
    while True:
        dependents = {h for h in ALL_HANDLERS if h not in stale and any(d in stale for d in h.depends_on)}
        if not dependents:
            break
        stale |= dependents
    for handler in stale:
        handler.reset()
