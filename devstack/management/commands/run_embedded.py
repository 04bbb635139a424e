"""``manage.py run_embedded``: the whole stack on one machine, for a first look and for development.

Starts the Kafka-protocol broker (Tansu) unless one already answers at KAFKA_BOOTSTRAP_SERVERS,
creates the topics, migrates Django's tables, then runs every consumer service, the fleet simulator
and the web server as separate processes, as production runs them.

Every child runs in its own session, so the terminal's Ctrl-C reaches this command only, which
stops them in order (docs/CONSUMERS.md): the consumers and the simulator first (the consumers
finish their batch and commit), then the web server, then the broker. A broker that died first
left the consumers unable to commit, and each of them was killed after 20 s.

A restart resumes the simulated fleet (``simulate_fleet --resume``): the broker keeps nothing, the
store keeps everything, so only what the store lacks is published again.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
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

from devstack.fleet import SIMULATED_FLEET_TIME_ZONE

# Stop budget: Ctrl-C must return within 10 s. A consumer's batch on the embedded store takes a
# few seconds at most; the web server and the broker stop at once.
WORKERS_STOP_SECONDS = 7.0
WEB_STOP_SECONDS = 1.5
BROKER_STOP_SECONDS = 1.0
PR_SET_PDEATHSIG = 1
WEB_THREADS = 4


def consumer_command(name: str, definition: dict[str, Any]) -> list[str]:
    if definition.get("CODEC") == "registry":
        return ["consume_equipment_registry"]
    return ["consume_equipment_telemetry", "--service", name]


def metrics_ports(choice: str, services: list[str]) -> dict[str, int]:
    """``--metrics``: ``auto`` (free ports), ``off`` (none), or the first port (then one more per service)."""
    from devstack.embedded import free_port

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


def dying_with_parent() -> Any:
    """A ``preexec_fn`` that makes a child get SIGTERM when this command dies without stopping it
    (killed by SIGKILL), so no process is left behind; None where prctl is not available.

    The function is looked up here, in the parent: between fork and exec the child only calls it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def small_batches(variable: str, option: str) -> str:
    """The JSON of ``variable`` (KAFKA_CONSUMER_OPTIONS, KAFKA_PRODUCER_OPTIONS) with ``option`` at
    64 KB unless set.

    The backfill is in the broker before the consumers start, and a fetch returns whole producer
    batches, up to 1 MB per partition by default: a consumer's first batches of 500 came from one
    or two partitions, and the machines of the others appeared only after tens of thousands of
    messages (all 50 visible 50 s after the startup message; 13.5 s with 64 KB fetches; README). With small
    producer batches and small fetches per partition, every partition is in the first batches.
    """
    options = json.loads(os.environ.get(variable) or "{}")
    options.setdefault(option, 64 * 1024)
    return json.dumps(options)


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


def banner_urls(base: str) -> list[tuple[str, str]]:
    """What the startup message links to; each of them answers 200 for the printed login (a test
    requests every one)."""
    return [
        ("home", f"{base}/"),
        ("fleet snapshot", f"{base}/api/v1/current/"),
        ("history today", f"{base}/api/v1/history/locations/today/"),
        ("usage", f"{base}/api/v1/usage/search/"),
        ("health / ready", f"{base}/health  {base}/ready"),
        ("admin, ops views", f"{base}/admin/  {base}/admin/ops/"),
        ("API docs", f"{base}/api/docs/  {base}/api/redoc/"),
    ]


def gunicorn_command(bind: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "telemetry_site.wsgi",
        # Production's settings (one /metrics for every worker, docs/OPERATIONS.md), with the flags
        # below in place of its bind, workers, worker class and 20 s grace.
        "--config",
        str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"),
        "--chdir",
        str(settings.BASE_DIR),
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(WEB_THREADS),
        "--graceful-timeout",
        "1",
        "--no-control-socket",  # gunicorn 27 opens one under $HOME by default; nothing here uses it
        "--access-logfile",
        "-",
    ]


class Command(BaseCommand):
    help = "Run broker, consumers, fleet simulator and web server on the embedded defaults; Ctrl-C stops everything."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--web", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument("--partitions", type=int, default=12, help="partitions of the telemetry topic")
        parser.add_argument(
            "--machines", type=int, default=50, help="simulated machines (0: no simulator, bring your own data)"
        )
        parser.add_argument(
            "--maker-machines", type=int, default=20, help="machines of a simulated other maker's AEMP feed (0: none)"
        )
        parser.add_argument(
            "--backfill-days",
            type=float,
            default=1.0,
            help="days of history the simulator publishes first on a new store (0: none; a restart resumes instead)",
        )
        parser.add_argument(
            "--rate", type=float, default=1.0, help="live messages per second of the whole fleet (default 1)"
        )
        parser.add_argument(
            "--web-workers", type=int, default=2, help="gunicorn worker processes (each with 4 threads)"
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
        from devstack.embedded import create_topics, start_broker, wait_for_port
        from telemetry_site import backends

        started = time.monotonic()
        var = Path(settings.RUN_DIR)
        var.mkdir(parents=True, exist_ok=True)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        broker = None
        workers: list[tuple[str, subprocess.Popen]] = []  # consumers and simulator: stopped first
        web: list[tuple[str, subprocess.Popen]] = []
        # Every child runs in a session of its own: the terminal's Ctrl-C reaches this command only,
        # which stops the children in order.
        orphan_guard = dying_with_parent()
        try:
            host, _, port = settings.KAFKA_BOOTSTRAP_SERVERS.split(",")[0].rpartition(":")
            if is_listening(host or "127.0.0.1", int(port)):
                self.stdout.write(f"Using the broker already at {settings.KAFKA_BOOTSTRAP_SERVERS}")
            elif host in ("127.0.0.1", "localhost"):
                broker = start_broker(int(port), log_path=var / "tansu.log", own_session=True, preexec_fn=orphan_guard)
                self.stdout.write(f"Started Tansu broker at {broker.bootstrap_servers} (log: {var / 'tansu.log'})")
            else:
                raise CommandError(f"No broker answers at {settings.KAFKA_BOOTSTRAP_SERVERS}; start it or fix the URL.")
            create_topics(
                backends.kafka["default"].admin(),
                {
                    settings.TELEMETRY_TOPIC: options["partitions"],
                    settings.REGISTRY_TOPIC: 2,
                    settings.USAGE_TOPIC: 4,
                    settings.ALERTS_TOPIC: 2,
                    settings.ALERT_REPORTS_TOPIC: 1,
                    settings.DEAD_LETTER_TOPIC: 1,
                },
            )
            call_command("migrate", verbosity=0, interactive=False)
            login = ensure_admin(var)

            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            # The children share this process's DEBUG, whichever entry point serves the web (the WSGI
            # one defaults to DEBUG off, which needs a real DJANGO_SECRET_KEY).
            env = {
                "DJANGO_DEBUG": "1" if settings.DEBUG else "0",
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "KAFKA_CONSUMER_OPTIONS": small_batches("KAFKA_CONSUMER_OPTIONS", "max.partition.fetch.bytes"),
                "KAFKA_PRODUCER_OPTIONS": small_batches("KAFKA_PRODUCER_OPTIONS", "batch.size"),
            }
            # The simulated sites are in Italy: their local days, shifts and after-hours are judged
            # in the fleet's zone (the other apps' zones default to USAGE_TIME_ZONE), unless set.
            fleet_zone = env.setdefault("USAGE_TIME_ZONE", SIMULATED_FLEET_TIME_ZONE)

            def spawn(group: list, label: str, command: list[str], log_name: str, **extra_env: str) -> None:
                with open(var / log_name, "ab") as log:  # the child keeps its own copy of the descriptor
                    process = subprocess.Popen(
                        command if command[0] == sys.executable else [*manage, *command],
                        env={**env, **extra_env},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        preexec_fn=orphan_guard,  # only calls prctl, looked up beforehand
                    )
                group.append((f"{label} (log: {var / log_name})", process))

            ports = metrics_ports(options["metrics"], list(settings.TELEMETRY_SERVICES))
            for name, definition in settings.TELEMETRY_SERVICES.items():
                metrics = {"METRICS_PORT": str(ports[name]), "METRICS_ADDRESS": "127.0.0.1"} if name in ports else {}
                log_name = f"consumer-{name}.log"
                spawn(workers, f"consumer {name}", consumer_command(name, definition), log_name, **metrics)
            # The embedded store has no TTL monitor: expired positions go every 5 minutes (docs/STORAGE.md).
            spawn(workers, "retention sweep", ["expire_positions", "--every", "300"], "expire-positions.log")
            # Silent machines and the scheduled alert reports run on a clock (docs/ALERTS.md).
            spawn(workers, "alerts clock", ["alerts_clock", "--interval", "300"], "alerts-clock.log")
            if options["machines"] > 0:
                # Some history as fast as possible, then live data at any hour; a restart publishes
                # only what the store lacks (docs/SIMULATOR.md).
                simulate = ["simulate_fleet", "--machines", str(options["machines"]), "--rate", str(options["rate"])]
                # A fifth of the machines work around the clock (live data at any hour), the rest
                # on weekday shifts with some overtime, in the zone the services judge them in.
                simulate += ["--around-the-clock-share", "0.2", "--time-zone", fleet_zone, "--no-progress", "--resume"]
                if options["backfill_days"] > 0:
                    simulate += ["--backfill-days", str(options["backfill_days"])]
                spawn(workers, "fleet simulator", simulate, "simulator.log")
            if options["maker_machines"] > 0:
                # Another maker's ISO 15143-3 feed, simulated on 127.0.0.1, polled into the stream (docs/CONNECTORS.md).
                connectors = ["run_connectors", "--simulated-maker", str(options["maker_machines"])]
                spawn(workers, "connectors", connectors, "connectors.log")
            web_host, _, web_port = options["web"].rpartition(":")
            # gunicorn, as in production: worker processes with threads (the store opens its connections
            # per thread, telemetry_site/litemongo_store.py) and a listen backlog that takes a burst
            # of parallel requests (runserver's holds 10: the 11th waited for a SYN retry, 1 s).
            spawn(web, "web", gunicorn_command(options["web"], options["web_workers"]), "web.log")
            wait_for_port(int(web_port), 60, web[0][1])

            base = f"http://{web_host}:{web_port}"
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"c40 telemetry backend is running (started in {time.monotonic() - started:.1f} s):",
                        *(f"  {label:<16} {url}" for label, url in banner_urls(base)),
                        f"  login            {login}",
                        f"  broker           {settings.KAFKA_BOOTSTRAP_SERVERS}",
                        f"  store            {settings.MONGO_URI}",
                        f"  position archive {settings.HISTORY_ARCHIVE_PATH or '(none)'}",
                        f"  metrics web      {base}/metrics",
                        *(f"  metrics {name:<8} http://127.0.0.1:{port}/metrics" for name, port in ports.items()),
                        *(f"  {label}: pid {process.pid}" for label, process in [*workers, *web]),
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
                for label, process in [*workers, *web]:
                    if process.poll() is not None:
                        raise CommandError(f"{label} exited with {process.returncode}; see its log.")
        finally:
            self.stop_in_order(workers, web, broker)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")

    def stop_in_order(self, workers: list, web: list, broker: Any) -> None:
        """Consumers and simulator first (they finish their batch, commit and leave their group while
        the broker is still up), then the web server, then the broker."""
        stopping = time.monotonic()
        self.stdout.write("Stopping the consumers and the simulator...")
        self.stdout.flush()
        self.terminate(workers, WORKERS_STOP_SECONDS)
        for label, _ in workers:
            if label.startswith("consumer"):
                self.stdout.write(f"  {last_line(label)}")
        self.terminate(web, WEB_STOP_SECONDS)
        if broker is not None:
            broker.stop(BROKER_STOP_SECONDS)
        self.stdout.write(f"Stopped everything in {time.monotonic() - stopping:.1f} s.")

    def terminate(self, processes: list[tuple[str, subprocess.Popen]], timeout: float) -> None:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for label, process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{label} did not stop in {timeout:g} s; killing it")
                process.kill()
                process.wait()


def last_line(label: str) -> str:
    """The last line of a child's log (a consumer's summary with its last commits)."""
    log = Path(label.split("(log: ", 1)[1].rstrip(")"))
    with contextlib.suppress(OSError):
        with open(log, "rb") as file:
            file.seek(max(0, log.stat().st_size - 4096))
            lines = file.read().decode("utf-8", "replace").strip().splitlines()
        if lines:
            return lines[-1]
    return f"{label}: no log"
