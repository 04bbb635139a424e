"""gunicorn settings of the web server: ``gunicorn -c deploy/gunicorn.conf.py telemetry_site.wsgi``.

Prometheus metrics with several workers: each worker is its own process with its own counters, and
a scrape of ``/metrics`` reaches one worker at random. prometheus_client's multiprocess mode makes
every worker write its metrics to files in ``PROMETHEUS_MULTIPROC_DIR``, and ``/metrics`` (whichever
worker answers) adds up all the files. The directory must exist, be private to this server and be
empty at start (old files would add a previous run's counts): this file sets it up before any
worker imports the application, and removes a dead worker's live gauges.
"""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Any

# Set before a worker imports prometheus_client: the client picks its mode at import.
multiprocess_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"c40-gunicorn-metrics-{os.getpid()}")
)

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# One request at a time per worker process (the sync worker): a slow query holds one worker only.
worker_class = "sync"
timeout = 60
graceful_timeout = 20


def _remove_metric_files() -> None:
    # Only the client's own files (``counter_<pid>.db``, …): never a directory tree an operator named.
    for path in glob.glob(os.path.join(multiprocess_dir, "*.db")):
        os.remove(path)


def on_starting(server: Any) -> None:
    """In the master, before the first worker: the directory exists and holds no old counts."""
    os.makedirs(multiprocess_dir, mode=0o700, exist_ok=True)
    _remove_metric_files()


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was replaced: its counters stay counted; its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    _remove_metric_files()
