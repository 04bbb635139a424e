"""``manage.py run_connectors``: poll other makers' ISO 15143-3 feeds into TELEMETRY_TOPIC (docs/CONNECTORS.md).

Thin: parses options, builds the runner, installs signal handlers that only request a stop (the
current page is finished, published and its dedup keys stored), runs. ``--simulated-maker N``
serves a simulated maker's feed of N machines on 127.0.0.1 and keeps a connector pointing at it
(``make run`` uses it).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SIMULATED_NAME = "simulated maker"


class Command(BaseCommand):
    help = "Poll every enabled connector when due, publishing new readings as C40 telemetry; Ctrl-C stops."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="poll the due connectors once, then exit")
        parser.add_argument("--idle-seconds", type=float, default=5.0, help="pause between passes over the connectors")
        parser.add_argument(
            "--simulated-maker",
            type=int,
            default=0,
            metavar="N",
            help="serve a simulated maker feed of N machines on 127.0.0.1 and poll it (development)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from equipment_connectors.runner import ConnectorRunner

        if options["idle_seconds"] <= 0:
            raise CommandError("--idle-seconds must be positive.")
        if options["simulated_maker"] < 0:
            raise CommandError("--simulated-maker must be 0 (none) or a number of machines.")
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        maker = metrics_server = None
        try:
            if options["simulated_maker"]:
                maker = self.simulated_maker(options["simulated_maker"])
            if settings.METRICS_PORT and settings.METRICS_ENABLED:
                from telemetry_site.metrics import serve

                metrics_server = serve(settings.METRICS_PORT, settings.METRICS_ADDRESS)
            reports = ConnectorRunner().run(stop, once=options["once"], idle_seconds=options["idle_seconds"])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if maker is not None:
                maker.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
        for report in reports[-20:]:
            line = f"{report.connector}: {report.outcome}, {report.pages} pages, {report.machines} machines, "
            self.stdout.write(line + f"{report.messages} messages" + (f" ({report.error})" if report.error else ""))
        self.stdout.write(f"Stopped after {len(reports)} polls.")

    def simulated_maker(self, machines: int) -> Any:
        from equipment_connectors.fake_maker import FakeMaker, simulated_fleet
        from equipment_connectors.models import Connector
        from equipment_current.aemp.elements import aemp_datetime

        now = aemp_datetime(int(time.time()) * 1000)
        maker = FakeMaker(simulated_fleet(machines, at=now), auth="none").start()
        Connector.objects.update_or_create(
            name=SIMULATED_NAME,
            defaults={"maker": "Simulated", "base_url": maker.base_url, "auth_type": "none", "poll_seconds": 60},
        )
        self.stdout.write(f"Serving a simulated maker feed of {machines} machines at {maker.base_url}/Fleet/1")
        self.stdout.flush()
        return maker
