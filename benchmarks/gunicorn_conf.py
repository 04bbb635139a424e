"""gunicorn configuration of the API benchmark (``gunicorn -c benchmarks/gunicorn_conf.py``).

With the in-process engine every worker holds its own database, so each worker loads the data set
in ``post_worker_init``, before it accepts connections; against a real server (``MONGO_URI``) the
benchmark loads it once, before gunicorn starts, and the hook does nothing.
"""

from __future__ import annotations

from typing import Any

# Loading 10,000 machines and 100,000 positions takes a while on a busy 2-core machine.
timeout = 600
graceful_timeout = 5
accesslog = None
loglevel = "warning"


def post_worker_init(worker: Any) -> None:
    from benchmarks.api import seed_worker

    seed_worker()
