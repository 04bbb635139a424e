"""The repo's monitoring files against the real Prometheus (Debian's ``prometheus`` package, which
``make test`` installs like chromium): ``promtool`` accepts every file under ``deploy/`` and the
alert rules pass their unit tests; the server, run with the repo's scrape configuration, scrapes a
consumer process and a two-worker gunicorn, and its query API shows the messages and requests sent.

Outside CI the tests skip when the binaries are missing; in CI they fail, naming the install.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from devstack.embedded import free_port, wait_for_port
from stream.codecs import JsonCodec
from tests.factories import T0, telemetry
from tests.processes import ROOT, process_env, start_command

DEPLOY = ROOT / "deploy"


def binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: `make test` installs it with apt-get (Debian package prometheus)")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


def promtool(*args: str, cwd: Path) -> None:
    result = subprocess.run([binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def dashboard_queries() -> list[str]:
    queries = []
    for path in (DEPLOY / "grafana").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            queries += [target["expr"] for target in panel.get("targets", [])]
    return queries


def test_promtool_checks_every_file_under_deploy_and_the_alert_rules_pass_their_tests():
    checked = []
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = path.relative_to(DEPLOY).as_posix()
        if path.suffix in (".yml", ".yaml"):
            document = yaml.safe_load(path.read_text())
            if "tests" in document:
                promtool("test", "rules", path.name, cwd=path.parent)
            elif "groups" in document:
                promtool("check", "rules", path.name, cwd=path.parent)
            elif "scrape_configs" in document:
                promtool("check", "config", path.name, cwd=path.parent)
            else:
                pytest.fail(f"deploy/{relative}: neither a Prometheus configuration, nor rules, nor rule tests")
        elif path.suffix == ".json":
            # Grafana's PromQL is checked by the real server below (test_prometheus_scrapes_...).
            assert json.loads(path.read_text())["panels"], relative
        elif path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
        else:
            pytest.fail(f"deploy/{relative}: no check for this kind of file; add one here")
        checked.append(relative)
    assert {"prometheus/prometheus.yml", "prometheus/alerts.yml", "prometheus/alerts_test.yml"} <= set(checked)
    assert len(dashboard_queries()) >= 10


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def query(base: str, expression: str) -> list[dict]:
    answer = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def scalar(base: str, expression: str) -> float | None:
    result = query(base, expression)
    return float(result[0]["value"][1]) if result else None


def wait_until(base: str, expected: dict[str, float], timeout: float, processes: list) -> dict[str, float | None]:
    """Query ``expected``'s expressions until each has its value (or the time is up); the last values."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {expression: scalar(base, expression) for expression in expected}
        if seen == expected or time.monotonic() > deadline:
            return seen
        for process in processes:
            assert process.poll() is None, process.stdout.read() if process.stdout else process.returncode
        time.sleep(0.5)


@pytest.mark.broker
def test_prometheus_scrapes_a_consumer_and_the_web_server(kafka, settings, tmp_path):
    prometheus = binary("prometheus")
    consumer_port, web_port, prometheus_port = free_port(), free_port(), free_port()
    env = process_env(settings, tmp_path, METRICS_ADDRESS="127.0.0.1", CONSUMER_BATCH_SIZE="3")

    # The repo's scrape configuration, its targets pointed at this test's processes, scraping fast.
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["c40-consumers"]["static_configs"] = [
        {"targets": [f"127.0.0.1:{consumer_port}"], "labels": {"service": "current"}}
    ]
    jobs["c40-web"]["static_configs"] = [{"targets": [f"127.0.0.1:{web_port}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    processes: list[subprocess.Popen] = []
    try:
        consumer = start_command(
            env, "consume_equipment_telemetry", "--service", "current", "--metrics-port", str(consumer_port)
        )
        processes.append(consumer)
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "telemetry_site.wsgi"],
            env={
                **env,
                "GUNICORN_BIND": f"127.0.0.1:{web_port}",
                "GUNICORN_WORKERS": "2",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # the WSGI entry point defaults to DEBUG off
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web-metrics"),
                "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ beside deploy/gunicorn.conf.py
            },
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(web)
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115 - the child owns it
        )
        processes.append(server)
        for port, process in ((consumer_port, consumer), (web_port, web), (prometheus_port, server)):
            wait_for_port(port, 60, process)

        codec = JsonCodec("c40_enriched.avsc")
        producer = kafka.producer()
        valid = [codec.encode(telemetry(f"EX{i}", T0 + i * 1000)) for i in range(5)]
        undecodable = [b"\x00not json", b"{broken"]
        a_day_ahead = int(time.time() * 1000) + 86_400_000  # decodes, but fails validation
        invalid = [codec.encode(telemetry("EX9", a_day_ahead))]
        for value in [*valid, *undecodable, *invalid]:
            producer.produce(settings.TELEMETRY_TOPIC, value=value, key=b"EX", partition=1)
        assert producer.flush(10) == 0

        requests = [("/health", 200)] * 7 + [("/api/v1/current/EX1/", 401)] * 3 + [("/no/such/page", 404)]
        for path, status in requests:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}{path}", timeout=10) as response:
                    assert response.status == status
            except urllib.error.HTTPError as error:
                assert error.code == status, path

        base = f"http://127.0.0.1:{prometheus_port}"
        current = 'service="current"'
        expected = {
            f"sum(c40_consumer_messages_consumed_total{{{current}}})": 8.0,
            f"sum(c40_consumer_messages_processed_total{{{current}}})": 5.0,
            f'sum(c40_consumer_messages_dead_lettered_total{{{current}, reason="decode"}})': 2.0,
            f'sum(c40_consumer_messages_dead_lettered_total{{{current}, reason="validation"}})': 1.0,
            f'c40_consumer_last_committed_offset{{{current}, partition="1"}}': 8.0,
            'sum(c40_http_requests_total{route="/health", method="GET", status="200"})': 7.0,
            'sum(c40_http_requests_total{route="/api/v1/current/<str:identifier>/", status="401"})': 3.0,
            'sum(c40_http_requests_total{route="unmatched", status="404"})': 1.0,
            'sum(c40_http_request_duration_seconds_count{route="/health"})': 7.0,
            'up{job="c40-consumers", service="current"}': 1.0,
            'up{job="c40-web"}': 1.0,
        }
        assert wait_until(base, expected, 90, processes[:2]) == expected

        # The alert rules are loaded and evaluate; none fires on this healthy pair.
        groups = get_json(f"{base}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) == 7 and all(rule["health"] == "ok" for rule in rules), rules
        assert [rule["name"] for rule in rules if rule["state"] == "firing"] == []
        # Every dashboard query is valid PromQL for this server (Grafana's variables filled in).
        for expression in dashboard_queries():
            query(base, expression.replace("$service", ".*").replace("$__rate_interval", "1m"))
        # No label value is an identifier, a key or a path: the machines' names appear nowhere.
        series = get_json(f"{base}/api/v1/series?match[]=" + urllib.parse.quote('{__name__=~"c40_.*"}'))["data"]
        assert series and not [s for s in series if any("EX" in value for value in s.values())]
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert consumer.returncode == 0, consumer.stdout.read()
