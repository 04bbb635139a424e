"""Consumer handler of the position-history service."""

from __future__ import annotations

from collections.abc import Sequence

from equipment_history.business import position_documents
from equipment_history.repository import PositionRepository
from stream.consumer import Record


class PositionHistoryHandler:
    """Extracts the batch's distinct positions and inserts them in one unordered bulk write."""

    def __init__(self, repository: PositionRepository | None = None) -> None:
        self._repository = repository

    @property
    def repository(self) -> PositionRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["positions"]
        return self._repository

    def handle(self, records: Sequence[Record]) -> None:
        # Straight to the stored shape in one pass: no ``Position`` per message on the hot path.
        self.repository.insert_documents(position_documents([record.value for record in records]))
