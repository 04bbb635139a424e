"""Consumer handler of the archive service: every position to the Parquet archive (docs/HISTORY.md).

Run by the shared loop like every service (``consume_equipment_telemetry --service archive``), in
its own consumer group on the telemetry topic. ``handle`` returns once the batch's files are
durable, and only then does the loop commit the batch's offsets: while the archiver is down the
broker holds what it has not archived, for as long as the topic's retention keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

from equipment_history.archive_layout import archive_rows
from equipment_history.parquet_archive import ParquetPositionArchive
from stream.codecs import TransientError
from stream.consumer import Record


class PositionArchiveHandler:
    """Appends a batch's positions to the archive at ``path`` (default ``HISTORY_ARCHIVE_PATH``)."""

    def __init__(
        self,
        path: str | None = None,
        compact_after_files: int | None = None,
        archive: ParquetPositionArchive | None = None,
    ) -> None:
        self._path = path
        self._compact_after_files = compact_after_files
        self._archive = archive

    @property
    def archive(self) -> ParquetPositionArchive:
        if self._archive is None:
            from django.conf import settings

            self._archive = ParquetPositionArchive(
                self._path or settings.HISTORY_ARCHIVE_PATH,
                compact_after_files=self._compact_after_files or settings.HISTORY_ARCHIVE_COMPACT_AFTER_FILES,
            )
        return self._archive

    def handle(self, records: Sequence[Record]) -> None:
        rows = archive_rows((record.value, record.partition, record.offset) for record in records)
        try:
            self.archive.append(rows)
        except OSError as exc:
            # Storage, not data: disk full, permission denied, bucket unreachable (pyarrow raises
            # OSError for all of them). Transient, so the loop retries with backoff and commits
            # nothing, instead of taking the batch apart and dead-lettering good positions; the
            # broker keeps them meanwhile. A record Arrow cannot convert still fails as data.
            raise TransientError(f"archive {self.archive.path}: {exc}") from exc
