"""``run_connectors`` killed (SIGKILL) in the middle of a walk: the restarted service publishes what
the killed one had not, and nothing twice (dedup keys are stored per page, after the broker's ack)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from equipment_connectors.fake_maker import FakeMaker, simulated_fleet
from telemetry_site.backends import codecs
from tests.connectors.conftest import read_topic
from tests.processes import ROOT, process_env

CREATE = (
    "from equipment_connectors.models import Connector; "
    "Connector.objects.create(name='crashy', maker='Komatsu', base_url='{url}', auth_type='none')"
)


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db
def test_killed_mid_walk_the_restart_publishes_the_rest_once(kafka, mongo_db, settings, tmp_path):
    maker = FakeMaker(simulated_fleet(250), auth="none").start()
    try:
        maker.faults["hang_pages"] = {3}
        env = process_env(settings, tmp_path, METRICS_PORT="0")
        assert manage(env, "migrate", "--verbosity", "0").returncode == 0
        created = manage(env, "shell", "-c", CREATE.format(url=maker.base_url))
        assert created.returncode == 0, created.stderr
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "run_connectors", "--once"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not maker.requests[2:] and time.monotonic() < deadline:  # page 3 asked: pages 1 and 2 are done
            time.sleep(0.05)
        assert maker.requests[2:] == ["/aemp/v2/15143/-3/Fleet/3"]
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        maker.faults.clear()
        maker.release.set()
        restarted = manage(env, "run_connectors", "--once")
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert "crashy: ok, 3 pages, 250 machines, 50 messages" in restarted.stdout
    finally:
        maker.stop()
    keys = Counter(key for key, _, _ in read_topic(kafka, settings.TELEMETRY_TOPIC, codecs["telemetry"]))
    assert keys == {f"KMT-{i:05d}": 1 for i in range(250)}
