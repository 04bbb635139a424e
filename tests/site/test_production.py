"""The production command as the README gives it: safe settings by default, `check --deploy` clean
with .env.example, static files served, and every 500 in the log with its traceback."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devstack.embedded import wait_for_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def env_example() -> dict[str, str]:
    """The variables .env.example sets (comments and blank lines skipped)."""
    variables = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def clean_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """A process environment without this shell's Django and store variables, plus ``variables``.

    Without mutmut's variables too: under a mutation run the child runs the code as shipped (a
    child's calls kill no mutant, and mutmut's bookkeeping there would break the child)."""
    dropped = ("DJANGO_", "MONGO_", "API_", "C40_", "MUTANT_", "MUTMUT_")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**keep, "C40_RUN_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), **variables}


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_check_deploy_with_the_env_example_and_a_real_key_has_no_warning(tmp_path):
    variables = {**env_example(), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        clean_environment(tmp_path, **variables),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("key", "reason"),
    [(None, "it is not set"), ("", "it is not set"), ("change-me", "published placeholder"), ("example", None)],
)
def test_debug_off_refuses_to_start_without_a_secret_key_naming_the_variable(tmp_path, key, reason):
    variables = {"DJANGO_DEBUG": "0"}
    if key == "example":
        key = env_example()["DJANGO_SECRET_KEY"]  # copied without editing
        reason = "published placeholder"
    if key is not None:
        variables["DJANGO_SECRET_KEY"] = key
    result = run([sys.executable, "manage.py", "check"], clean_environment(tmp_path, **variables))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set" in result.stderr
    assert reason in result.stderr


def test_the_wsgi_entry_point_defaults_to_debug_off_and_so_requires_a_key(tmp_path):
    """`gunicorn telemetry_site.wsgi` with nothing set must not start on the published key."""
    result = run([sys.executable, "-c", "import telemetry_site.wsgi"], clean_environment(tmp_path))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set to a secret value when DJANGO_DEBUG=0 (it is not set)" in result.stderr
    result = run(
        [sys.executable, "-c", "import telemetry_site.wsgi; from django.conf import settings; print(settings.DEBUG)"],
        clean_environment(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(50)),
    )
    assert result.stdout.strip() == "False", result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn(tmp_path):
    """The README's production command, `gunicorn -c deploy/gunicorn.conf.py telemetry_site.wsgi`
    (one worker, a free port), with a key and nothing
    else about DEBUG (the entry point's default), over a store that cannot open (a path under
    /dev/null) so that reading it is a 500."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w+")
    environment = clean_environment(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        API_ALLOW_ANONYMOUS_READ="1",
        MONGO_URI="litemongo:///dev/null/store",
    )
    environment.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "telemetry_site.wsgi"],
        cwd=tmp_path,  # not the repository: the image's files only, through PYTHONPATH
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, 60, process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


def test_gunicorn_serves_static_files_logs_500s_with_tracebacks_and_shows_no_debug_page(gunicorn):
    base, log = gunicorn
    status, headers, body = fetch(f"{base}/static/admin/css/base.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css"), status
    # Swagger UI's page and every script and stylesheet it loads.
    status, _, page = fetch(f"{base}/api/docs/")
    assert status == 200
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.decode())
    assert any("swagger-ui-bundle.js" in asset for asset in assets), assets
    for asset in assets:
        assert fetch(base + asset)[0] == 200, asset

    status, _, body = fetch(f"{base}/api/v1/current/EX001/")
    assert status == 500
    assert b"Traceback" not in body  # DEBUG is off: the client learns nothing
    status, _, body = fetch(f"{base}/no/such/page")
    assert status == 404 and b"URLconf" not in body
    # gunicorn refuses a request line over 4,094 bytes (414), so 1,500 short parameters.
    status, _, body = fetch(f"{base}/api/v1/current/?" + "&".join(["p"] * 1500))
    assert (status, body) == (400, b'{"query": ["More than 1000 parameters."]}')

    log.seek(0)
    output = log.read()
    assert "ERROR django.request Internal Server Error: /api/v1/current/EX001/" in output, output[-3000:]
    assert "Traceback (most recent call last)" in output
    assert "NotADirectoryError" in output or "FileExistsError" in output
