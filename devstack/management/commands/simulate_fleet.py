"""``manage.py simulate_fleet``: publish a simulated fleet's telemetry and registry records to Kafka.

Two ways to run, which combine:

- ``--backfill-days N``: the last N days (ending now, or at ``--end``), published as fast as possible;
- ``--rate R``: real time, events stamped with the wall clock; the reporting interval is chosen so
  that the fleet sends about R messages per second while every engine runs.

With both, the past N days go out as fast as possible and the simulation then continues in real
time. ``--resume`` (with ``--rate``) continues the fleet recorded in the store instead of starting a new
one: what the store already holds is not published again (``devstack.fleet_resume``).

The behaviour of the fleet lives in the pure ``devstack.simulator``; this command only parses
options, encodes, publishes, paces and reports. SIGINT/SIGTERM request a stop: what was
produced is flushed and the command exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devstack.fleet import SIMULATED_FLEET_TIME_ZONE

MS_PER_DAY = 86_400_000
DEFAULT_STEP_SECONDS = 60.0
FLUSH_TIMEOUT_SECONDS = 30.0
POLL_EVERY = 200  # messages between two producer.poll(0) calls: serves delivery callbacks
PROGRESS_INTERVAL_SECONDS = 0.1  # at most ten redraws a second
PROGRESS_WIDTH = 30


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_moment(text: str) -> int:
    """Epoch milliseconds from epoch ms digits or an ISO 8601 date-time (naive means UTC)."""
    from devstack.simulator import utc_ms

    if text.strip().isdigit():
        return int(text)
    try:
        return utc_ms(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError as exc:
        raise CommandError(f"--end: expected epoch milliseconds or ISO 8601, got {text!r}") from exc


def rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


class ProgressBar:
    """One line redrawn with ``\\r`` on a terminal; does nothing when the stream is not a TTY."""

    def __init__(self, stream: Any, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def update(self, fraction: float | None, messages: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.drawn_at < PROGRESS_INTERVAL_SECONDS:
            return
        self.drawn_at = now
        speed = messages / max(now - self.started, 1e-9)
        if fraction is None:
            bar = ""
        else:
            fraction = min(1.0, max(0.0, fraction))
            filled = int(fraction * PROGRESS_WIDTH)
            bar = f"[{'#' * filled}{'-' * (PROGRESS_WIDTH - filled)}] {fraction:4.0%}  "
        self.stream.write(f"\r{bar}{messages} messages  {speed:,.0f}/s ", ending="", style_func=str)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("", style_func=str)  # end the line


class Publisher:
    """Produces to Kafka without blocking on a full local queue, and counts failed deliveries."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.produced = 0
        self.failed = 0
        self.first_error: str | None = None

    def _delivered(self, err: Any, _message: Any) -> None:
        if err is not None:
            self.failed += 1
            self.first_error = self.first_error or str(err)

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, on_delivery=self._delivered)
                break
            except BufferError:
                # The local queue is full (a backfill outruns the broker): let deliveries drain.
                self.producer.poll(0.1)
        self.produced += 1
        if self.produced % POLL_EVERY == 0:
            self.producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; return how many are still undelivered."""
        return self.producer.flush(timeout)


class Command(BaseCommand):
    help = (
        "Publish a simulated fleet (shifts, idling, travel between work sites, growing counters, optional "
        "resets, duplicates, late and garbage messages) to the telemetry and registry topics."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--machines", type=int, default=50, help="fleet size (default 50)")
        parser.add_argument("--seed", type=int, default=1, help="same seed and start, same messages (default 1)")
        parser.add_argument(
            "--rate",
            type=float,
            default=None,
            help="real time: about this many messages per second while every engine runs",
        )
        parser.add_argument(
            "--backfill-days", type=float, default=None, help="publish the last N days as fast as possible"
        )
        parser.add_argument(
            "--end", default=None, help="end of the backfill: epoch ms or ISO 8601 (default now; backfill only)"
        )
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=None,
            help=f"reporting interval while the engine runs (default {DEFAULT_STEP_SECONDS:g}; not with --rate)",
        )
        parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
        parser.add_argument("--max-messages", type=int, default=None, help="stop after this many messages")
        parser.add_argument("--duplicate-rate", type=rate, default=0.0, help="share of telemetry sent twice")
        parser.add_argument("--late-rate", type=rate, default=0.0, help="share of telemetry sent late")
        parser.add_argument(
            "--late-by-seconds", type=float, default=900.0, help="how late a late message is, at most (default 900)"
        )
        parser.add_argument(
            "--garbage-rate", type=rate, default=0.0, help="random-bytes messages per telemetry message"
        )
        parser.add_argument(
            "--reset-rate", type=rate, default=0.0, help="counter resets (new ECU) per machine per working day"
        )
        parser.add_argument(
            "--around-the-clock",
            action="store_true",
            help="every machine works every day around the clock (night demos, tunnel sites)",
        )
        parser.add_argument(
            "--around-the-clock-share",
            type=rate,
            default=0.0,
            help="this share of the machines works around the clock, the rest on shifts (make run: 0.2)",
        )
        parser.add_argument("--time-zone", default=SIMULATED_FLEET_TIME_ZONE, help="local time of the shifts")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
        parser.add_argument(
            "--resume",
            action="store_true",
            help=(
                "with --rate: continue the fleet recorded in the store (same seed and start), "
                "publishing per machine only what every service has not stored yet; a first run, or one with "
                "other options, starts a new fleet and records it"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from devstack.fleet import MIN_STEP_SECONDS, REGISTRY, TELEMETRY, SimulationCounters
        from devstack.simulator import FleetSimulator
        from telemetry_site import backends

        machines, rate_per_second, days = options["machines"], options["rate"], options["backfill_days"]
        if machines < 1:
            raise CommandError("--machines must be at least 1")
        if rate_per_second is not None and rate_per_second <= 0:
            raise CommandError("--rate must be positive")
        if days is not None and days <= 0:
            raise CommandError("--backfill-days must be positive")
        if options["end"] is not None and (days is None or rate_per_second is not None):
            raise CommandError("--end only goes with --backfill-days alone (a real-time run ends in the present)")
        if rate_per_second is not None and options["step_seconds"] is not None:
            raise CommandError("--rate sets the reporting interval; leave out --step-seconds")
        if options["resume"] and rate_per_second is None:
            raise CommandError("--resume goes with --rate (it continues a live fleet)")
        if rate_per_second is not None:
            # Every machine reports once per step while its engine runs.
            step_seconds = max(MIN_STEP_SECONDS, machines / rate_per_second)
        else:
            step_seconds = options["step_seconds"] or DEFAULT_STEP_SECONDS

        started = now_ms()
        real_time = days is None or rate_per_second is not None
        end_ms = None if real_time else (parse_moment(options["end"]) if options["end"] else started)
        start_ms = started if days is None else (end_ms or started) - round(days * MS_PER_DAY)
        resumed = False
        if options["resume"]:
            start_ms, resumed = self.recorded_start(options, step_seconds, start_ms)
        try:
            simulator = FleetSimulator(
                machines=machines,
                seed=options["seed"],
                start_ms=start_ms,
                step_seconds=step_seconds,
                time_zone=options["time_zone"],
                around_the_clock=options["around_the_clock"],
                around_the_clock_share=options["around_the_clock_share"],
                reset_rate=options["reset_rate"],
                duplicate_rate=options["duplicate_rate"],
                late_rate=options["late_rate"],
                late_by_seconds=options["late_by_seconds"],
                garbage_rate=options["garbage_rate"],
            )
        except (ValueError, LookupError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise CommandError(str(exc)) from exc
        stored_until: dict[str, int] = {}
        if resumed:
            from devstack.fleet_resume import resume_points

            telemetry_services = [
                name
                for name, definition in settings.TELEMETRY_SERVICES.items()
                if definition["TOPIC"] == settings.TELEMETRY_TOPIC
            ]
            stored_until = resume_points([machine.identifier for machine in simulator.machines], telemetry_services)
            self.stdout.write(
                f"Resuming the fleet started at {datetime.fromtimestamp(start_ms / 1000).astimezone().isoformat()}: "
                + (
                    f"{len(stored_until)} of {machines} machines are stored, the oldest up to "
                    f"{datetime.fromtimestamp(min(stored_until.values()) / 1000).astimezone().isoformat()}; "
                    "only later events are published"
                    if stored_until
                    else "the store holds none of its machines; publishing everything again"
                )
            )

        telemetry_codec, registry_codec = backends.codecs["telemetry"], backends.codecs["registry"]
        telemetry_topic, registry_topic = settings.TELEMETRY_TOPIC, settings.REGISTRY_TOPIC
        publisher = Publisher(backends.kafka["default"].producer())
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        progress = ProgressBar(self.stderr, enabled=not options["no_progress"])
        duration, max_messages = options["duration"], options["max_messages"]
        deadline = None if duration is None else time.monotonic() + duration
        mode = "real time" if days is None else f"backfill of {days:g} days" + (", then real time" if real_time else "")
        self.stdout.write(f"Simulating {machines} machines (seed {options['seed']}, {mode}, step {step_seconds:g} s)")

        def fraction_done(event_ms: int) -> float | None:
            fractions = []
            if end_ms is not None:
                fractions.append((event_ms - start_ms) / max(1, end_ms - start_ms))
            if deadline is not None:
                fractions.append(1 - (deadline - time.monotonic()) / max(duration, 1e-9))
            if max_messages:
                fractions.append(publisher.produced / max_messages)
            return max(fractions) if fractions else None

        # What was actually published: the simulator also counts the event a stop left unsent.
        published = SimulationCounters()
        already_stored = 0
        wall_started = time.monotonic()
        try:
            for event in simulator.events(until_ms=end_ms):
                if stored_until and event.timestamp <= stored_until.get(event.key, -1):
                    already_stored += 1  # the store has it: a restart publishes only what it lacks
                    continue
                if real_time:
                    # Hold each event back until its time comes; events of a backfill are already due.
                    while not stop.is_set() and (wait := (event.emitted_at - now_ms()) / 1000) > 0:
                        if deadline is not None and time.monotonic() >= deadline:
                            break
                        stop.wait(min(wait, PROGRESS_INTERVAL_SECONDS))
                        progress.update(fraction_done(event.timestamp), publisher.produced)
                if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    break
                key = event.key.encode()
                if event.kind == TELEMETRY:
                    publisher.send(telemetry_topic, key, telemetry_codec.encode(event.value))
                elif event.kind == REGISTRY:
                    publisher.send(registry_topic, key, registry_codec.encode(event.value))
                else:  # garbage goes out raw, exactly as a broken box would send it
                    publisher.send(telemetry_topic, key, event.value)
                published.add(event)
                progress.update(fraction_done(event.timestamp), publisher.produced)
                if max_messages is not None and publisher.produced >= max_messages:
                    break
            progress.update(fraction_done(end_ms or now_ms()), publisher.produced, force=True)
        finally:
            undelivered = publisher.flush(FLUSH_TIMEOUT_SECONDS)
            progress.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        seconds = time.monotonic() - wall_started
        counts = published
        self.stdout.write(
            f"Published {publisher.produced} messages in {seconds:.1f} s "
            f"({publisher.produced / max(seconds, 1e-9):,.0f}/s): "
            f"{counts.telemetry} telemetry ({counts.duplicates} duplicates, {counts.late} late, "
            f"{counts.heartbeats} with the engine off, {counts.without_gps} without GPS), "
            f"{counts.registry} registry, {counts.garbage} garbage; {simulator.counters.resets} counter resets"
            + (f"; {already_stored} already stored, not published again" if resumed else "")
            + (" (stopped by a signal)" if stop.is_set() else "")
        )
        if undelivered or publisher.failed:
            raise CommandError(
                f"{undelivered} messages undelivered after {FLUSH_TIMEOUT_SECONDS:g} s and {publisher.failed} "
                f"failed ({publisher.first_error or 'no error reported'}); is the broker at "
                f"{backends.kafka['default'].bootstrap_servers} up?"
            )

    def recorded_start(self, options: dict[str, Any], step_seconds: float, new_start_ms: int) -> tuple[int, bool]:
        """The start of the fleet recorded in the store if it was run with the same options (True), else
        ``new_start_ms``, recorded for the next run (False)."""
        from devstack.fleet_resume import SimulatorRunRepository
        from telemetry_site import backends

        parameters = {
            "machines": options["machines"],
            "seed": options["seed"],
            "step_seconds": step_seconds,
            "time_zone": options["time_zone"],
            "around_the_clock": options["around_the_clock"],
            "around_the_clock_share": options["around_the_clock_share"],
            **{
                name: options[name]
                for name in ("reset_rate", "duplicate_rate", "late_rate", "late_by_seconds", "garbage_rate")
            },
        }
        runs = SimulatorRunRepository(backends.databases["default"])
        recorded = runs.get()
        if recorded is not None and recorded["parameters"] == parameters and recorded["start_ms"] <= new_start_ms:
            return recorded["start_ms"], True
        if recorded is not None:
            self.stdout.write("The store holds a fleet simulated with other options: starting a new one")
        runs.save(parameters, new_start_ms)
        return new_start_ms, False
