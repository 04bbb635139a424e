"""``manage.py alerts_clock``: opens silent-machine alerts and writes the due scheduled reports,
every ``--interval`` seconds (default 300, so a silence is seen within 5 minutes of its limit),
or once with ``--once``. SIGTERM and Ctrl-C finish the current tick and exit 0."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Open silent-machine alerts and write due alert reports, on a clock."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one tick, then exit")
        parser.add_argument("--interval", type=float, default=300.0, help="seconds between ticks")
        parser.add_argument("--now", help="ISO 8601 instant to judge at (implies --once); for replays and tests")

    def handle(self, *args: Any, **options: Any) -> None:
        from equipment_alerts.clock import tick

        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if options["now"]:
            try:
                moment = datetime.fromisoformat(options["now"])
            except ValueError as error:
                raise CommandError(f"--now: {error}") from None
            if moment.tzinfo is None:
                raise CommandError("--now needs an offset, e.g. 2026-12-05T16:00:00+00:00")
            self.report(*tick(int(moment.timestamp() * 1000)))
            return
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.is_set():
                self.report(*tick(int(time.time() * 1000)))
                if options["once"]:
                    break
                stop.wait(options["interval"])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def report(self, opened: int, written: int) -> None:
        self.stdout.write(f"alerts_clock: {opened} silent alerts opened, {written} reports written")
