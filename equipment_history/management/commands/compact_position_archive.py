"""``manage.py compact_position_archive [--date YYYY-MM-DD ...]``: one file per date and Kafka partition."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from equipment_history.archive_layout import parse_date_folder


class Command(BaseCommand):
    help = (
        "Join the Parquet archive's files of each date and Kafka partition into one, deduplicated by "
        "(identifier, timestamp). Idempotent; safe beside a running archiver (one compaction at a time)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--date", action="append", default=[], help="Only this UTC date (repeatable).")
        parser.add_argument("--path", default="", help="Archive location (default HISTORY_ARCHIVE_PATH).")

    def handle(self, *args: Any, **options: Any) -> None:
        from equipment_history.parquet_archive import ParquetPositionArchive

        path = options["path"] or settings.HISTORY_ARCHIVE_PATH
        if not path:
            raise CommandError("No archive: set HISTORY_ARCHIVE_PATH or pass --path.")
        bad = [date for date in options["date"] if parse_date_folder(f"date={date}") is None]
        if bad:
            raise CommandError(f"--date must be YYYY-MM-DD, got {', '.join(bad)}.")
        archive = ParquetPositionArchive(path)
        try:
            compacted = archive.compact_all(options["date"] or None)
        except OSError as exc:
            raise CommandError(f"Cannot compact the archive at {path}: {exc}") from exc
        for file in compacted:
            self.stdout.write(f"{file.path}")
        self.stdout.write(f"compacted {len(compacted)} date/partition group(s) in {path}")
