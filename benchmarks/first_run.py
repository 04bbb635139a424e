"""A newcomer's first hour with ``make run``, timed: the real main job in a fresh run directory.

    python -m benchmarks.first_run [--machines 50] [--backfill-days 1] [--keep-running 30]

Starts ``manage.py run_embedded`` as ``make run`` does (free ports, a new ``C40_RUN_DIR``), and
prints: the startup message's delay, the first and the last simulated machine visible in the fleet
snapshot, the time Ctrl-C (SIGINT) takes, then the same for a restart (time to the startup
message, messages the simulator published again) and its stop. Figures in README.md come from it.
``EmbeddedStack`` is also what the newcomer test (tests/site/test_run_embedded.py) drives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("current", "history", "usage")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren: gunicorn's workers)."""
    found, frontier = [], [pid]
    while frontier:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(frontier.pop())], capture_output=True, text=True).stdout
        children = [int(p) for p in out.split()]
        found += children
        frontier += children
    return found


def is_alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@dataclass
class EmbeddedStack:
    """``manage.py run_embedded`` in a run directory of its own, on the given ports."""

    run_dir: Path
    kafka_port: int
    web_port: int
    arguments: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    banner: list[str] = field(default_factory=list)
    output: str = ""

    def environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.run_dir),
            "C40_RUN_DIR": str(self.run_dir),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.kafka_port}",
            # Consumers join the group in about 3 s instead of 10+.
            "KAFKA_CONSUMER_OPTIONS": json.dumps({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, timeout: float = 120.0) -> float:
        """Start and read the startup message; returns the seconds until it was printed."""
        started = time.monotonic()
        self.banner = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--web", f"127.0.0.1:{self.web_port}", *self.arguments],
            cwd=ROOT,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = started + timeout
        for line in self.process.stdout:
            self.banner.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
                break
        if not self.banner or not self.banner[-1].startswith("Press Ctrl-C"):
            raise RuntimeError("no startup message:\n" + "\n".join(self.banner))
        return time.monotonic() - started

    @property
    def urls(self) -> list[str]:
        return [word for line in self.banner for word in line.split() if word.startswith("http://")]

    @property
    def password(self) -> str:
        return re.search(r"admin / (\S+)", "\n".join(self.banner)).group(1)

    @property
    def token(self) -> str:
        return re.search(r"API token: (\w+)", "\n".join(self.banner)).group(1)

    def get_json(self, path: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}", headers={"Authorization": f"Token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def machines_visible(self) -> int:
        return self.get_json("/api/v1/current/?page_size=1000")["count"]

    def wait_for_machines(self, machines: int, timeout: float) -> tuple[float | None, float | None]:
        """Seconds until the first machine and until ``machines`` machines are in the snapshot."""
        started = time.monotonic()
        first = None
        while time.monotonic() - started < timeout:
            try:
                seen = self.machines_visible()
            except OSError:  # gunicorn's workers are still booting, or a request timed out
                seen = 0
            if seen and first is None:
                first = time.monotonic() - started
            if seen >= machines:
                return first, time.monotonic() - started
            time.sleep(0.25)
        return first, None

    def wait_for_consumers(self, timeout: float) -> float | None:
        """Seconds until every consumer's last batch was small (it caught up with the backfill)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            last = [re.findall(r"messages=(\d+)", self.log(f"consumer-{name}.log"))[-1:] for name in SERVICES]
            if all(found and int(found[0]) < 100 for found in last):
                return time.monotonic() - started
            time.sleep(1)
        return None

    def stop_report(self) -> str:
        """What the command printed from its stop on."""
        return self.output[self.output.find("Stopping") :]

    def stop(self, timeout: float = 60.0) -> float:
        """SIGINT, as Ctrl-C in the terminal; returns the seconds until the command exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=timeout)
        self.output = "\n".join(self.banner) + "\n" + rest
        return time.monotonic() - started

    def log(self, name: str) -> str:
        path = self.run_dir / name
        return path.read_text(errors="replace") if path.exists() else ""


def published(simulator_log: str) -> list[int]:
    """Messages each run of the simulator published, from its closing lines."""
    return [int(n) for n in re.findall(r"^Published (\d+) messages", simulator_log, re.MULTILINE)]


def main(argv: list[str] | None = None) -> None:
    from devstack.embedded import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--backfill-days", type=float, default=1.0)
    parser.add_argument("--keep-running", type=float, default=30.0, help="seconds between restart and stop")
    parser.add_argument("--wait", type=float, default=900.0, help="longest wait for every machine")
    parser.add_argument(
        "--catch-up", type=float, default=0.0, help="then wait this long at most for the consumers to catch up (lag 0)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="c40-first-run-") as run_dir:
        stack = EmbeddedStack(
            Path(run_dir),
            free_port(),
            free_port(),
            ["--machines", str(args.machines), "--maker-machines", "0", "--backfill-days", str(args.backfill_days)],
        )
        banner = stack.start()
        first, every = stack.wait_for_machines(args.machines, args.wait)
        caught_up = stack.wait_for_consumers(args.catch_up) if args.catch_up else None
        stop = stack.stop()
        stops = [stack.stop_report()]
        restart = stack.start()
        time.sleep(args.keep_running)
        after_restart = stack.machines_visible()
        second_stop = stack.stop()
        stops.append(stack.stop_report())
        runs = published(stack.log("simulator.log"))
        figures = {
            "startup message (s)": banner,
            "first machine visible (s after the message)": first,
            f"all {args.machines} visible (s after the message)": every,
            "consumers caught up with the backfill (s after all visible)": caught_up,
            "Ctrl-C to exit (s)": stop,
            "restart: startup message (s)": restart,
            "machines visible right after the restart": after_restart,
            "messages published, first run": runs[0] if runs else None,
            f"messages published, restart (ran {args.keep_running:g} s)": runs[1] if len(runs) > 1 else None,
            "Ctrl-C to exit after the restart (s)": second_stop,
        }
        for name, value in figures.items():
            print(f"{name:<60} {value if not isinstance(value, float) else round(value, 1)}")
        for number, report in enumerate(stops, 1):
            print(f"stop {number}:\n{report}")


if __name__ == "__main__":
    main()
