"""Consumer handler of the current-state service."""

from __future__ import annotations

from collections.abc import Sequence

from equipment_current.business import fold_state_updates
from equipment_current.repository import CurrentStateRepository
from stream.consumer import Record


class CurrentStateHandler:
    """Folds a batch into one update per machine and writes them in one bulk operation."""

    def __init__(self, repository: CurrentStateRepository | None = None) -> None:
        self._repository = repository

    @property
    def repository(self) -> CurrentStateRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["current_state"]
        return self._repository

    def handle(self, records: Sequence[Record]) -> None:
        self.repository.apply(fold_state_updates(record.value for record in records).values())
