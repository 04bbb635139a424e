"""``manage.py run_embedded``: the whole stack on one machine, for a first look and for development.

Starts the Kafka-protocol broker (Tansu) unless one already answers at KAFKA_BOOTSTRAP_SERVERS,
creates the topics, migrates Django's tables, then runs every consumer service and the web server
as separate processes, exactly as production runs them. Ctrl-C (or SIGTERM) stops them all: the
consumers get SIGTERM, finish their batch and commit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


def consumer_command(name: str, definition: dict[str, Any]) -> list[str]:
    if definition.get("CODEC") == "registry":
        return ["consume_equipment_registry"]
    return ["consume_equipment_telemetry", "--service", name]


def metrics_ports(choice: str, services: list[str]) -> dict[str, int]:
    """``--metrics``: ``auto`` (free ports), ``off`` (none), or the first port (then one more per service)."""
    from telemetry_site.embedded import free_port

    if choice == "off":
        return {}
    if choice == "auto":
        return {name: free_port() for name in services}
    if not choice.isdigit() or not 0 < int(choice) <= 65535 - len(services):
        raise CommandError(f"--metrics {choice!r}: give auto, off, or a port number for the first consumer.")
    return {name: int(choice) + i for i, name in enumerate(services)}


def is_listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def ensure_admin(run_dir: Path) -> str:
    """Create the embedded stack's superuser once; its password is kept in the run directory."""
    import secrets

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    password_file = run_dir / "admin-password.txt"
    user_model = get_user_model()
    user = user_model.objects.filter(username="admin").first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_superuser("admin", password=password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    token, _ = Token.objects.get_or_create(user=user)
    password = password_file.read_text().strip() if password_file.exists() else "(unchanged, set by you)"
    return f"admin / {password}   API token: {token.key}"


class Command(BaseCommand):
    help = "Run broker, consumers and web server on the embedded defaults; Ctrl-C stops everything."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--web", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument("--partitions", type=int, default=12, help="partitions of the telemetry topic")
        parser.add_argument(
            "--machines", type=int, default=50, help="simulated machines (0: no simulator, bring your own data)"
        )
        parser.add_argument(
            "--backfill-days", type=int, default=1, help="days of history the simulator publishes first (0: none)"
        )
        parser.add_argument(
            "--metrics",
            default="auto",
            help="consumers' Prometheus metrics ports: auto (free ports), off, or the first port (+1 per consumer)",
        )
        parser.add_argument(
            "--for-seconds", type=float, default=None, help="stop by itself after this long (smoke tests)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from telemetry_site import backends
        from telemetry_site.embedded import create_topics, start_broker, wait_for_port

        var = Path(settings.RUN_DIR)
        var.mkdir(parents=True, exist_ok=True)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        broker = None
        children: list[tuple[str, subprocess.Popen]] = []
        try:
            host, _, port = settings.KAFKA_BOOTSTRAP_SERVERS.split(",")[0].rpartition(":")
            if is_listening(host or "127.0.0.1", int(port)):
                self.stdout.write(f"Using the broker already at {settings.KAFKA_BOOTSTRAP_SERVERS}")
            elif host in ("127.0.0.1", "localhost"):
                broker = start_broker(int(port), log_path=var / "tansu.log")
                self.stdout.write(f"Started Tansu broker at {broker.bootstrap_servers} (log: {var / 'tansu.log'})")
            else:
                raise CommandError(f"No broker answers at {settings.KAFKA_BOOTSTRAP_SERVERS}; start it or fix the URL.")
            create_topics(
                backends.kafka["default"].admin(),
                {
                    settings.TELEMETRY_TOPIC: options["partitions"],
                    settings.REGISTRY_TOPIC: 2,
                    settings.USAGE_TOPIC: 4,
                    settings.DEAD_LETTER_TOPIC: 1,
                },
            )
            call_command("migrate", verbosity=0, interactive=False)
            login = ensure_admin(var)

            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            # The children share this process's DEBUG, whichever entry point serves the web (the WSGI
            # one defaults to DEBUG off, which needs a real DJANGO_SECRET_KEY).
            env = {"DJANGO_DEBUG": "1" if settings.DEBUG else "0", **os.environ, "PYTHONUNBUFFERED": "1"}

            def spawn(label: str, command: list[str], log_name: str, **extra_env: str) -> None:
                with open(var / log_name, "ab") as log:  # the child keeps its own copy of the descriptor
                    process = subprocess.Popen(
                        [*manage, *command],
                        env={**env, **extra_env},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                children.append((f"{label} (log: {var / log_name})", process))

            ports = metrics_ports(options["metrics"], list(settings.TELEMETRY_SERVICES))
            for name, definition in settings.TELEMETRY_SERVICES.items():
                metrics = {"METRICS_PORT": str(ports[name]), "METRICS_ADDRESS": "127.0.0.1"} if name in ports else {}
                spawn(f"consumer {name}", consumer_command(name, definition), f"consumer-{name}.log", **metrics)
            if options["machines"] > 0:
                # Some history as fast as possible, then live data at any hour (docs/SIMULATOR.md).
                simulate = ["simulate_fleet", "--machines", str(options["machines"])]
                if options["backfill_days"] > 0:
                    simulate += ["--backfill-days", str(options["backfill_days"])]
                spawn(
                    "fleet simulator",
                    [*simulate, "--rate", "1", "--around-the-clock", "--no-progress"],
                    "simulator.log",
                )
            web_host, _, web_port = options["web"].rpartition(":")
            web = subprocess.Popen(
                [*manage, "runserver", options["web"], "--noreload"], env=env, stdin=subprocess.DEVNULL
            )
            children.append(("web", web))
            wait_for_port(int(web_port), 30, web)

            base = f"http://{web_host}:{web_port}"
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        "c40 telemetry backend is running:",
                        f"  fleet snapshot   {base}/api/v1/current/",
                        f"  history          {base}/api/v1/history/",
                        f"  usage            {base}/api/v1/usage/search/",
                        f"  health / ready   {base}/health  {base}/ready",
                        f"  admin, ops views {base}/admin/  {base}/admin/ops/",
                        f"  API docs         {base}/api/docs/  {base}/api/redoc/",
                        f"  login            {login}",
                        f"  broker           {settings.KAFKA_BOOTSTRAP_SERVERS}",
                        f"  store            {settings.MONGO_URI}",
                        f"  position archive {settings.HISTORY_ARCHIVE_PATH or '(none)'}",
                        f"  metrics web      {base}/metrics",
                        *(f"  metrics {name:<8} http://127.0.0.1:{port}/metrics" for name, port in ports.items()),
                        *(f"  {label}: pid {process.pid}" for label, process in children),
                        "Press Ctrl-C to stop everything.",
                        "",
                    ]
                )
            )
            self.stdout.flush()
            deadline = None if options["for_seconds"] is None else time.monotonic() + options["for_seconds"]
            while not stop.wait(0.5):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                for label, process in children:
                    if process.poll() is not None:
                        raise CommandError(f"{label} exited with {process.returncode}; see its log.")
        finally:
            self.stdout.write("Stopping...")
            for _, process in children:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for label, process in children:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{label} did not stop in 20 s; killing it")
                    process.kill()
                    process.wait()
            if broker is not None:
                broker.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")
