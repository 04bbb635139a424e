"""What a newcomer does with ``make run``, on the real main job (3 machines instead of 50): wait
for the startup message, open every printed URL 20 times at once with the printed login, press
Ctrl-C, start again (nothing stored is replayed, the data is still there), press Ctrl-C again."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from benchmarks.first_run import EmbeddedStack, descendants, is_alive, published
from devstack.embedded import free_port
from telemetry_site.databases import open_database

pytestmark = pytest.mark.broker

MACHINES = 3
MAKER_MACHINES = 2  # of the simulated other maker polled by run_connectors (docs/CONNECTORS.md)
PARALLEL = 20
SERVICES = ("current", "history", "usage", "registry", "archive", "maintenance", "utilisation", "alerts")


def logged_in_session(base: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/admin/login/", timeout=30)
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": "admin", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=30,
    )
    assert response.ok and "/admin/login/" not in response.url, "the printed login does not log in"
    return session


def answers_to_parallel_requests(stack: EmbeddedStack, url: str) -> list[tuple[int, str]]:
    """``PARALLEL`` requests at once: the admin pages with the printed login (a browser session),
    everything else with the printed token. Each answer's status, and the body of any but a 200."""
    base = f"http://127.0.0.1:{stack.web_port}"
    session = logged_in_session(base, stack.password) if "/admin/" in url else requests.Session()
    headers = {} if "/admin/" in url else {"Authorization": f"Token {stack.token}"}

    def get(_: int) -> tuple[int, str]:
        response = session.get(url, headers=headers, timeout=60)
        return response.status_code, "" if response.status_code == 200 else response.text[:500]

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(get, range(PARALLEL)))


def assert_stopped_in_order(stack: EmbeddedStack, seconds: float, processes: list[int]) -> None:
    assert stack.process.returncode == 0, stack.output
    assert seconds < 10, f"Ctrl-C took {seconds:.1f} s:\n{stack.output}"
    assert "did not stop" not in stack.output, stack.output
    for service in SERVICES:
        # Each consumer's closing line, echoed at the stop, names its last commits.
        assert re.search(rf"^  {service}: .*; last commits: ", stack.output, re.MULTILINE), stack.output
        assert "commit failed" not in stack.log(f"consumer-{service}.log")
    assert [pid for pid in processes if is_alive(pid)] == []


def test_a_newcomer_runs_the_main_job_requests_every_url_stops_and_restarts_it(tmp_path):
    stack = EmbeddedStack(
        tmp_path / "run",
        free_port(),
        free_port(),
        [
            "--machines",
            str(MACHINES),
            "--maker-machines",
            str(MAKER_MACHINES),
            "--partitions",
            "2",
            "--backfill-days",
            "0.01",
        ],
    )
    stack.start()
    try:
        # The first requests the web server sees are a parallel burst at the fleet snapshot, as a
        # dashboard opening at once would send: cold workers build their metrics then (issue 32).
        snapshot = next(url for url in stack.urls if url.endswith("/api/v1/current/"))
        answers = answers_to_parallel_requests(stack, snapshot)
        assert [status for status, _ in answers] == [200] * PARALLEL, {body for _, body in answers}
        processes = descendants(stack.process.pid)
        assert len(processes) >= 7  # broker, four consumers, the simulator, gunicorn and its workers
        assert stack.wait_for_machines(MACHINES, 120)[1] is not None, "the simulated machines never appeared"
        # Every consumer serves its metrics on the port the banner printed, and the web server its own.
        metrics = {line.split()[1]: line.split()[2] for line in stack.banner if line.startswith("  metrics ")}
        assert set(metrics) == {"web", *SERVICES}
        urls = stack.urls
        assert len(urls) == 10 + len(metrics)  # home, 3 API, health, ready, admin, ops, 2 docs; metrics
        for url in urls:
            answers = answers_to_parallel_requests(stack, url)
            assert [status for status, _ in answers] == [200] * PARALLEL, (url, {body for _, body in answers})
        # The archiver runs too: the simulated positions reach the Parquet archive under the run folder.
        archived = tmp_path / "run" / "archive" / "positions"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(archived.glob("date=*/*.parquet")):
            time.sleep(0.5)
        assert list(archived.glob("date=*/*.parquet")), "no position reached the archive"
    finally:
        seconds = stack.stop()
    assert_stopped_in_order(stack, seconds, processes)
    store = open_database(f"litemongo://{tmp_path / 'run' / 'litemongo'}", "c40")
    positions = store["positions"].count_documents({})
    assert positions > 0

    stack.start()
    try:
        processes = descendants(stack.process.pid)
        # The data is still there before anything new arrives.
        assert stack.machines_visible() == MACHINES + MAKER_MACHINES
    finally:
        seconds = stack.stop()
    assert_stopped_in_order(stack, seconds, processes)
    simulator = stack.log("simulator.log")
    first, again = published(simulator)
    # The first run published its backfill (0.01 day, ~860 messages); the restart resumed and
    # published only what the store lacked (the seconds it was stopped and ran), not a replay.
    assert "Resuming the fleet" in simulator
    assert again < first / 4, simulator
    assert store["positions"].count_documents({}) >= positions
