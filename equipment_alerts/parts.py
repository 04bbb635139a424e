"""The lazy parts the alert consumer, the clock and the report writer share: the alerts repository
from the registry and a publisher, each built on first use unless the caller passes its own (as the
tests do), so that nothing connects at construction."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from equipment_alerts.repository import AlertRepository


class AlertParts:
    PUBLISHER = "equipment_alerts.publisher.AlertPublisher"

    def __init__(self, repository: AlertRepository | None = None, publisher: Any = None) -> None:
        self._repository = repository
        self._publisher = publisher

    @property
    def repository(self) -> AlertRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["alerts"]
        return self._repository

    @property
    def publisher(self) -> Any:
        if self._publisher is None:
            self._publisher = import_string(self.PUBLISHER)()
        return self._publisher
