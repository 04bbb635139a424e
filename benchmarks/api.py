"""Benchmark 4 (and the web half of 5): the API under concurrent load, served by gunicorn.

Data set: a fleet snapshot of ``--machines`` machines and one machine with a history of
``--positions`` positions in the requested range (1,000 and 10,000 by default; ``--full`` gives the
issue's 10,000 and 100,000, slow on the in-process engine). Load: ``wrk`` (Debian package ``wrk``)
with ``--connections`` connections for ``--duration`` seconds per endpoint; without wrk, a small
threaded Python client does the same job and the table says so. Reference, same run: ``/health``
(Django and gunicorn, no database). Resident memory of the gunicorn workers is sampled during the
load and compared with their memory once the data was loaded.

Engine: mongomock-ng in each gunicorn worker (the data is loaded with ``insert_many`` before the
repositories create their indexes: its unique-index check scans the collection on every insert),
or the real server at ``MONGO_URI`` (loaded once, then the repositories' indexes are created).

    python -m benchmarks.api [--machines 1000] [--positions 10000] [--full] [--duration 10] [--connections 8]
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.common import Result, command_line, emit, rss_kib
from benchmarks.roundtrips import engine_uri

NAME = "api"
# The in-process engines scan and copy every document of a collection per query, so the issue's
# sizes (10,000 machines, 100,000 positions: --full) take seconds per request; defaults are 1/10.
DEFAULT_MACHINES = 1_000
DEFAULT_POSITIONS = 10_000
HISTORY_MACHINE = "EX000"
POSITION_STEP_MS = 15_000
ROOT = Path(__file__).resolve().parent.parent


# --- the data set -------------------------------------------------------------------------------------


def history_window(positions: int, now_ms: int) -> tuple[int, int]:
    """``[start, end)`` holding ``positions`` positions, ending an hour ago (inside the retention)."""
    end = now_ms - 3_600_000
    return end - positions * POSITION_STEP_MS, end


def load_data_set(database: Any, machines: int, positions: int, now_ms: int) -> None:
    """Insert the fleet and the history straight into the collections, then create the indexes."""
    from benchmarks.common import fleet_records
    from equipment_current.business import fold_state_updates
    from equipment_history.business import Position
    from equipment_history.repository import position_document

    updates = fold_state_updates(fleet_records(machines, machines=machines)).values()
    database["current_state"].insert_many(
        [
            {"_id": u.identifier, "identifier": u.identifier, "last_event_at": u.last_event_at, **u.sections}
            for u in updates
        ]
    )
    start, _ = history_window(positions, now_ms)
    rng = random.Random(1)
    latitude, longitude = 45.46, 9.19
    documents = []
    for i in range(positions):
        latitude += rng.uniform(-1e-4, 1e-4)
        longitude += rng.uniform(-1e-4, 1e-4)
        position = Position(HISTORY_MACHINE, start + i * POSITION_STEP_MS, latitude, longitude, "Via Roma 1, Milano")
        documents.append(position_document(position))
    database["positions"].insert_many(documents)
    from django.conf import settings

    from telemetry_site import backends

    for alias in settings.TELEMETRY_REPOSITORIES:
        backends.repositories[alias]  # the repositories create their indexes on first use


def seed_worker() -> None:
    """gunicorn ``post_worker_init``: load the data set into this worker's in-process database."""
    import django

    django.setup()
    from telemetry_site import backends

    ready = Path(os.environ["BENCH_API_READY_DIR"])
    if os.environ.get("BENCH_API_LOAD_IN_WORKER") == "1":
        load_data_set(
            backends.databases["default"],
            int(os.environ["BENCH_API_MACHINES"]),
            int(os.environ["BENCH_API_POSITIONS"]),
            int(os.environ["BENCH_API_NOW_MS"]),
        )
    (ready / str(os.getpid())).write_text(str(rss_kib()))


# --- load generation -------------------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(url: str, duration: int, connections: int) -> dict[str, Any]:
    threads = max(1, min(2, connections))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)$", out, re.MULTILINE))
    if "50" not in percentiles or "99" not in percentiles:
        # wrk prints no distribution when only a handful of slow requests completed.
        print(f"wrk gave no latency distribution for {url}; measuring with the Python client", file=sys.stderr)
        return {**run_python_load(url, duration, connections), "tool": "python load generator"}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} error responses\n{out}")
    return {
        "p50": _seconds(percentiles["50"]),
        "p99": _seconds(percentiles["99"]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "tool": "wrk",
    }


def run_python_load(url: str, duration: int, connections: int) -> dict[str, Any]:
    """The fallback load generator: ``connections`` threads, keep-alive, one request at a time each."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}")
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(connections)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, math.ceil(p * len(latencies)) - 1)]

    return {
        "p50": percentile(0.50),
        "p99": percentile(0.99),
        "rps": len(latencies) / elapsed,
        "tool": "python load generator",
    }


# --- the server ---------------------------------------------------------------------------------------


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


class MemorySampler(threading.Thread):
    """Largest resident memory of each gunicorn worker while it runs."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in worker_pids(self.master):
                self.peak[pid] = max(self.peak.get(pid, 0), rss_kib(pid))


def start_gunicorn(env: dict[str, str], workers: int, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "telemetry_site.wsgi",
        "-c",
        str(ROOT / "benchmarks" / "gunicorn_conf.py"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def run(
    machines: int = DEFAULT_MACHINES,
    positions: int = DEFAULT_POSITIONS,
    duration: int = 10,
    connections: int = 4,
    workers: int = 2,
    page_size: int = 100,
) -> list[Result]:
    from devstack.embedded import free_port

    uri = engine_uri()
    real_server = uri != "mongomock://"
    run_dir = Path(tempfile.mkdtemp(prefix="c40-bench-api-"))
    ready = run_dir / "ready"
    ready.mkdir()
    now_ms = int(time.time() * 1000)
    database_name = f"c40_bench_api_{os.getpid()}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "telemetry_site.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_ALLOW_ANONYMOUS_READ": "1",  # the benchmark measures serving, not token lookups in SQLite
        "C40_RUN_DIR": str(run_dir),
        "MONGO_URI": uri,
        "MONGO_DB": database_name,
        "LOG_LEVEL": "WARNING",
        "BENCH_API_READY_DIR": str(ready),
        "BENCH_API_LOAD_IN_WORKER": "0" if real_server else "1",
        "BENCH_API_MACHINES": str(machines),
        "BENCH_API_POSITIONS": str(positions),
        "BENCH_API_NOW_MS": str(now_ms),
    }
    if real_server:
        from django.test.utils import override_settings

        from benchmarks.common import database_settings
        from telemetry_site import backends

        with override_settings(**database_settings(uri, counted=False, name=database_name)):
            load_data_set(backends.databases["default"], machines, positions, now_ms)
    load = run_wrk if wrk_available() else run_python_load
    if not wrk_available():
        print("wrk not found (apt-get install -y wrk): using the built-in Python load generator", file=sys.stderr)
    port = free_port()
    server = start_gunicorn(env, workers, port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while len(list(ready.iterdir())) < workers:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {server.returncode} while loading the data set")
            if time.monotonic() > deadline:
                raise TimeoutError("gunicorn workers did not load the data set in 15 minutes")
            time.sleep(0.5)
        loaded_kib = {int(p.name): int(p.read_text()) for p in ready.iterdir()}
        start, end = history_window(positions, now_ms)
        urls = {
            "/health": f"{base}/health",
            f"fleet snapshot ({machines:,} machines)": f"{base}/api/v1/current/?page_size={page_size}",
            f"history range ({positions:,} positions)": (
                f"{base}/api/v1/history/{HISTORY_MACHINE}/?from={start}&to={end}&page_size={page_size}"
            ),
        }
        # The answers are what we think they are, before anything is timed.
        fleet = get_json(urls[f"fleet snapshot ({machines:,} machines)"])
        if fleet["count"] != machines:
            raise AssertionError(f"fleet snapshot counts {fleet['count']} machines, not {machines}")
        history = get_json(urls[f"history range ({positions:,} positions)"])
        if len(history["results"]) != min(page_size, positions) or history["archive"] != "not_needed":
            raise AssertionError(f"unexpected history answer: {str(history)[:300]}")
        sampler = MemorySampler(server.pid)
        sampler.start()
        figures = {name: load(url, duration, connections) for name, url in urls.items()}
        sampler.done.set()
        sampler.join()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(run_dir, ignore_errors=True)
        if real_server:
            from telemetry_site.databases import open_database

            open_database(uri, database_name).client.drop_database(database_name)

    engine = "real MongoDB" if real_server else "mongomock-ng in each worker"
    note = f"{connections} conns, {duration}s, gunicorn -w {workers}, {engine}"
    health = figures.pop("/health")
    results = [
        Result(NAME, "/health p50 latency", health["p50"] * 1000, "ms", note=health["tool"]),
        Result(NAME, "/health requests/s", health["rps"], "req/s", note=f"{health['tool']}, {note}"),
    ]
    for name, figure in figures.items():
        results += [
            Result(
                NAME,
                f"{name} p50 latency",
                figure["p50"] * 1000,
                "ms",
                "/health p50",
                health["p50"] * 1000,
                note=figure["tool"],
            ),
            Result(
                NAME,
                f"{name} p99 latency",
                figure["p99"] * 1000,
                "ms",
                "/health p99",
                health["p99"] * 1000,
                note=figure["tool"],
            ),
            Result(
                NAME,
                f"{name} requests/s",
                figure["rps"],
                "req/s",
                "/health req/s",
                health["rps"],
                note=f"{figure['tool']}, {note}",
            ),
        ]
    peak = max(sampler.peak.values(), default=0)
    loaded = max(loaded_kib.values(), default=0)
    results.append(
        Result(
            "memory",
            "web worker RSS under load (largest worker)",
            peak / 1024,
            "MiB",
            "RSS once the data was loaded",
            loaded / 1024,
            note=note,
        )
    )
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=DEFAULT_MACHINES)
    parser.add_argument("--positions", type=int, default=DEFAULT_POSITIONS)
    parser.add_argument("--full", action="store_true", help="the issue's sizes: 10,000 machines, 100,000 positions")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    if args.full:
        args.machines, args.positions = 10_000, 100_000
    setup_django()
    emit(run(args.machines, args.positions, args.duration, args.connections, args.workers, args.page_size), args.json)


if __name__ == "__main__":
    main()
