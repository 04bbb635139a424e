"""The seed's structural numbers, measured: tests per layer, conftest lines, sys.modules writes and
threading patches in tests, full-suite wall time.

    python tools/test_stats.py            # collects, scans, then runs the whole suite once to time it
    python tools/test_stats.py --no-run   # without the timed run

Layers, by file and marker (docs/TESTING.md): *integration* is every test marked ``broker`` (a real
broker, real processes); of the rest, *pure* are the rules' tests (``test_business.py``,
``test_validation.py``), *API* the HTTP tests, *consumer* the handler and consumer-loop tests, and
*other* the repositories, registries, codecs, imports and tools.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

PURE = {"test_business.py", "test_validation.py", "test_simulator.py"}
API = ("test_api", "test_health", "test_ops_views", "test_openapi")
CONSUMER = ("test_consumer", "test_handler", "test_command")
SYS_MODULES_WRITERS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
PATCHERS = {"patch", "object", "setattr", "dict", "setitem", "delattr", "delitem"}


def collect(*marker: str) -> list[str]:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *marker]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "::" in line]


def layer(node_id: str, broker: set[str]) -> str:
    name = Path(node_id.split("::")[0]).name
    if node_id in broker:
        return "integration (broker)"
    if name in PURE:
        return "pure"
    if name.startswith(API):
        return "API"
    if name.startswith(CONSUMER):
        return "consumer"
    return "other"


def _is_sys_modules(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _names_threading(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "threading"
    if isinstance(node, ast.Attribute):
        return _names_threading(node.value)
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("threading")


def scan(path: Path) -> tuple[int, int]:
    """``(sys.modules writes, threading patches)`` in one file, found in its syntax tree (strings
    that merely mention them, like a test searching for them, do not count)."""
    sys_modules = threading = 0
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            sys_modules += sum(isinstance(t, ast.Subscript) and _is_sys_modules(t.value) for t in targets)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in SYS_MODULES_WRITERS and _is_sys_modules(func.value):
                sys_modules += 1
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in PATCHERS and node.args:
                sys_modules += _is_sys_modules(node.args[0])
                threading += _names_threading(node.args[0])
    return sys_modules, threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-run", action="store_true", help="skip the timed run of the whole suite")
    args = parser.parse_args(argv)

    every = collect()
    broker = set(collect("-m", "broker"))
    layers = Counter(layer(node_id, broker) for node_id in every)
    conftest_lines = sum(len(path.read_text().splitlines()) for path in TESTS.rglob("conftest.py"))
    sys_modules = threading = 0
    for path in TESTS.rglob("*.py"):
        found = scan(path)
        sys_modules += found[0]
        threading += found[1]

    rows = [
        ("tests", len(every)),
        *((f"  {name}", layers[name]) for name in ("pure", "API", "consumer", "integration (broker)", "other")),
        ("conftest lines", conftest_lines),
        ("sys.modules writes in tests", sys_modules),
        ("threading patches in tests", threading),
    ]
    if not args.no_run:
        started = time.monotonic()
        code = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=ROOT).returncode
        rows.append(("full-suite wall time", f"{time.monotonic() - started:.0f} s (exit {code})"))
    print("| measure | value |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
