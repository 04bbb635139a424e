"""Importing any module of the project opens no socket and starts no thread.

Runs in a fresh interpreter, so every module is imported for the first time, with
``socket.socket`` replaced by a class whose every use fails the test.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "telemetry_site",
    "equipment_current",
    "equipment_history",
    "equipment_usage",
    "equipment_connectors",
    "equipment_rentals",
    "benchmarks",
)

PROBE = r"""
import json, os, pkgutil, socket, sys, threading, importlib, traceback
opened = []
# urllib3 (under requests) creates and binds a throwaway socket to ::1 at import to learn whether
# the host has IPv6; that probe sends nothing and is the one creation allowed.
ALLOWED = ("urllib3/util/connection.py",)
class NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        where = "".join(traceback.format_stack(limit=6))
        if not any(allowed in where for allowed in ALLOWED):
            opened.append(where)
        raise OSError("network access at import time")
socket.socket = NoSocket
socket.create_connection = lambda *a, **k: opened.append(repr(a)) or (_ for _ in ()).throw(OSError("blocked"))
os.environ["DJANGO_SETTINGS_MODULE"] = "telemetry_site.settings"
threads_before = threading.active_count()
import django
django.setup()
imported = []
for package in json.loads(sys.argv[1]):
    module = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.endswith(".wsgi"):
            continue  # the WSGI entry point is the one module meant to build the application
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"imported": imported, "opened": opened,
                  "threads": threading.active_count() - threads_before}))
"""


def test_importing_every_module_opens_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["opened"] == []
    assert report["threads"] == 0
    assert "equipment_current.repository" in report["imported"]
    assert "telemetry_site.consumer" in report["imported"]
    assert len(report["imported"]) >= 20


def test_no_test_writes_sys_modules_or_patches_threading():
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        if path == Path(__file__):
            continue
        text = path.read_text()
        for needle in ("sys.modules[", "sys.modules.setdefault", 'patch("threading', "patch('threading"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []
