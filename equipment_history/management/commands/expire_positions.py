"""``manage.py expire_positions``: delete the positions older than the retention, on stores that do
not expire them themselves (the embedded engines: docs/STORAGE.md). Once, or every ``--every``
seconds until SIGTERM or Ctrl-C. On MongoDB the TTL index does this and the command has nothing to do.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def sweep_expired_positions(
    repository: Any,
    every: float | None,
    stop: threading.Event,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.time,
) -> int:
    """Delete expired positions now, then every ``every`` seconds until ``stop`` is set (once if
    ``every`` is None). Returns how many were deleted in all."""
    deleted = 0
    while True:
        started = time.monotonic()
        gone = repository.delete_expired(int(clock() * 1000))
        deleted += gone
        seconds = time.monotonic() - started
        report(f"expired {gone} positions older than {repository.retention_days} days in {seconds:.1f} s")
        if every is None or stop.wait(every):
            return deleted


class Command(BaseCommand):
    help = "Delete positions older than the history retention (embedded stores; MongoDB's TTL index does it)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=float, default=None, help="repeat every N seconds until stopped")
        parser.add_argument("--repository", default="positions", help="alias in TELEMETRY_REPOSITORIES")

    def handle(self, *args: Any, **options: Any) -> None:
        from equipment_history.repository import KEEP_FOREVER, PositionRepository
        from telemetry_site.backends import repositories

        every = options["every"]
        if every is not None and every <= 0:
            raise CommandError(f"--every must be > 0 seconds, got {every}.")
        repository = repositories[options["repository"]]
        if not isinstance(repository, PositionRepository):
            raise CommandError(f"TELEMETRY_REPOSITORIES[{options['repository']!r}] is not a PositionRepository.")
        idle = None
        if repository.uses_ttl_index:
            idle = "The server's TTL index expires positions; nothing to do."
        elif repository.retention_days == KEEP_FOREVER:
            idle = "Retention is 0 (keep forever); nothing to do."
        if idle is not None and every is None:
            self.stdout.write(idle)
            return
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if idle is not None:
                # Periodic and idle: wait to be stopped, so that a supervisor (run_embedded) that
                # treats an exit as a failure runs the same process list on every store.
                self.report(idle)
                stop.wait()
                return
            sweep_expired_positions(repository, every, stop, self.report)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def report(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
