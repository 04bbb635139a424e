"""The thin base of every ``consume_*`` command: parse options, build the loop, install the
signal handlers (which only request a stop), run, report."""

from __future__ import annotations

import signal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError


class ConsumerCommand(BaseCommand):
    # A fixed service (registry) or None: the command takes --service.
    service: str | None = None

    def service_choices(self) -> list[str]:
        return [self.service] if self.service else []

    def add_arguments(self, parser: Any) -> None:
        if self.service is None:
            parser.add_argument("--service", required=True, help="Which service's consumer group to run.")
        parser.add_argument("--max-messages", type=int, default=None, help="Stop after this many messages.")
        parser.add_argument(
            "--idle-timeout", type=float, default=None, help="Stop after this many seconds without a message."
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="Serve Prometheus metrics at /metrics on this port (default: METRICS_PORT; 0: none).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from stream.consumer import freeze_startup_objects
        from telemetry_site import logs, metrics
        from telemetry_site.services import build_consumer_loop

        name = self.service or options["service"]
        choices = self.service_choices()
        if name not in choices:
            raise CommandError(f"Unknown service {name!r}; choose one of: {', '.join(choices)}.")
        try:
            loop = build_consumer_loop(name, max_messages=options["max_messages"], idle_timeout=options["idle_timeout"])
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

        def request_stop(signum: int, _frame: Any) -> None:
            loop.stop()

        logs.bind(service=name)
        port = settings.METRICS_PORT if options["metrics_port"] is None else options["metrics_port"]
        server = None
        if port:
            try:
                server = metrics.serve(port, settings.METRICS_ADDRESS)
            except OSError as exc:
                loop.stop()
                loop.run()  # closes the Kafka clients it opened, at once: the stop flag is set
                raise CommandError(
                    f"Cannot serve metrics on {settings.METRICS_ADDRESS}:{port} ({exc}); "
                    "set METRICS_PORT (or --metrics-port) to a free port, or 0 for none."
                ) from exc
            self.stdout.write(f"Serving the metrics of {name} at http://{settings.METRICS_ADDRESS}:{port}/metrics")
            self.stdout.flush()
        freeze_startup_objects()
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            stats = loop.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if server is not None:
                server.shutdown()
                server.server_close()
            logs.bind(service=None)
        by_topic: dict[str, list[str]] = {}
        for (topic, partition), offset in sorted(stats.committed.items()):
            by_topic.setdefault(topic, []).append(f"{partition}:{offset}")
        committed = "; ".join(f"{topic} {' '.join(offsets)}" for topic, offsets in by_topic.items())
        self.stdout.write(
            f"{name}: {stats.messages} messages in {stats.batches} batches, {stats.processed} processed, "
            f"{stats.dead_lettered} dead-lettered, {stats.retries} retries; "
            f"last commits: {committed or 'none (nothing consumed)'}"
        )
