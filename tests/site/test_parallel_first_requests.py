"""Issue 32: the first burst of parallel requests at a fresh threaded gunicorn, started as
``make run`` starts it (``gunicorn_command``: gthread workers, production's config), got 500s while
two threads of a worker built the HTTP metric families at once. Here 50 requests are the very first
the server sees: no request warms a worker before them (the port is awaited with a bare connect)."""

from __future__ import annotations

import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import requests

from devstack.embedded import free_port, wait_for_port
from devstack.management.commands.run_embedded import gunicorn_command
from tests.site.test_production import ROOT, clean_environment

PARALLEL = 50


def test_fifty_parallel_first_requests_at_a_fresh_threaded_gunicorn_are_all_answered_200(tmp_path):
    port = free_port()
    environment = clean_environment(
        tmp_path,
        DJANGO_DEBUG="1",  # no secret key needed; the metrics path is the same
        API_ALLOW_ANONYMOUS_READ="1",
        MONGO_URI=f"litemongo://{tmp_path / 'store'}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    log = (tmp_path / "gunicorn.log").open("w+")
    process = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", 2), cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, 60, process)
        url = f"http://127.0.0.1:{port}/api/v1/current/"

        def get(_: int) -> int:
            return requests.get(url, timeout=60).status_code

        with ThreadPoolExecutor(PARALLEL) as pool:
            statuses = list(pool.map(get, range(PARALLEL)))
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.seek(0)
        output = log.read()
        log.close()
    assert statuses == [200] * PARALLEL, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # Every one of them counted, across both workers (multiprocess mode).
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("c40_http_requests_total{") and 'route="/api/v1/current/"' in line and 'status="200"' in line
    ]
    assert len(counted) == 1 and float(counted[0].rsplit(" ", 1)[1]) == PARALLEL, counted
