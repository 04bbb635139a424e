"""The house rules of docs/ARCHITECTURE.md, checked over every package of the project.

Packages are discovered (every top-level directory with an ``__init__.py`` but the test suite), so
an app added later is held to the same rules without editing this file. Imports are read from the
source (``ast``), every one of them: at the top, inside functions (the lazy ones), under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The shape of the source, not its behaviour: under mutmut (the mutation gate's staged copy) the
# mutated modules carry mutmut's trampolines (thousands of lines, its own imports), which no test
# of behaviour depends on. The gate checks behaviour; the suite checks the shape.
pytestmark = pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ or Path(__file__).resolve().parents[2].name == "mutants",
    reason="the staged mutants are not the project's source",
)

ROOT = Path(__file__).resolve().parents[2]

STREAM, SITE, DEVSTACK = "stream", "telemetry_site", "devstack"
# Measure the whole stack from outside; they may import anything, and nothing imports them.
TOOLS = frozenset({"benchmarks"})
NOT_CHECKED = frozenset({"tests"})
MAX_LINES = 400
# Modules allowed past MAX_LINES, each with the reason.
LONG_MODULES = {
    # Every capability appends its settings block here (docs/ARCHITECTURE.md): configuration, not code.
    "telemetry_site/settings.py",
}
# What a pure business module must not import (docs/ARCHITECTURE.md, rule 3 of the design).
IMPURE = frozenset({"django", "rest_framework", "drf_spectacular", "pymongo", "confluent_kafka", "fastavro"})
# The stream modules a business module may read records with (pure themselves).
PURE_STREAM = frozenset({"stream.records"})
# The ISO 15143-3 (AEMP 2.0) document format: parsing, element tables, the XML writer. Standard
# library only (checked below); the feed we serve and the connectors that read other makers' feeds
# share it, like a business module.
SHARED_FORMATS = frozenset(
    {"equipment_current.aemp.client", "equipment_current.aemp.elements", "equipment_current.aemp.xml_document"}
)


def project_packages() -> list[str]:
    """Every top-level package of the project: the ground floor, the apps and the tools."""
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name not in NOT_CHECKED
    )


def apps() -> list[str]:
    return [name for name in project_packages() if name not in {STREAM, SITE, DEVSTACK} | TOOLS]


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        yield ".".join(relative.with_suffix("").parts).removesuffix(".__init__"), path


def imported(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in ``path``; ``from a import b`` gives ``a.b``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                # A package's __init__ is the package itself: one level less to climb.
                climb = node.level - (path.name == "__init__.py")
                parent = module.split(".")[: len(module.split(".")) - climb]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def allowed_packages(package: str) -> set[str]:
    """The project packages ``package`` may import (apps: see ``may_import``)."""
    if package == STREAM:
        return {STREAM}
    if package == SITE:
        return {STREAM, SITE}
    if package == DEVSTACK:
        return {STREAM, SITE, DEVSTACK}
    if package in TOOLS:
        return set(project_packages())
    return {STREAM, SITE, package}


def is_business(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 2 and (parts[1] == "business" or parts[1].startswith("business_"))


def may_import(module: str, target: str) -> bool:
    package, target_package = module.split(".")[0], target.split(".")[0]
    if target_package not in project_packages():
        return True  # the standard library or a third-party package
    if target_package in allowed_packages(package):
        return True
    # An app may use another app's pure rules and values, nothing else of it (its data comes
    # through Kafka or the registries of settings).
    if package in apps() and target_package in apps():
        return is_business(".".join(target.split(".")[:2])) or any(
            target == shared or target.startswith(shared + ".") for shared in SHARED_FORMATS
        )
    return False


def test_the_packages_are_discovered():
    packages = project_packages()
    assert {STREAM, SITE, DEVSTACK, "equipment_current", "equipment_history", "equipment_usage"} <= set(packages)
    assert "equipment_usage" in apps()
    assert SITE not in apps() and STREAM not in apps() and DEVSTACK not in apps()


def test_each_package_imports_only_what_its_layer_may():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module} imports {target}"
        for package in project_packages()
        for module, path in modules(package)
        for line, target in imported(module, path)
        if not may_import(module, target)
    ]
    assert offenders == []


def test_the_rule_itself_refuses_the_imports_the_house_split_removed():
    # The ground floor importing up into an app, the stream importing the project or the dev stack.
    assert not may_import("telemetry_site.ops_views", "equipment_current.repository.FleetFilter")
    assert not may_import("telemetry_site.ops_urls", "equipment_usage.ops_views")
    assert not may_import("stream.consumer", "telemetry_site.mongo.is_transient_error")
    assert not may_import("stream.mongo", "devstack.embedded.free_port")
    assert not may_import("telemetry_site.databases", "devstack.fleet_resume")
    assert not may_import("equipment_usage.handlers", "devstack.simulator.FleetSimulator")
    assert not may_import("equipment_usage.handlers", "equipment_current.repository.CurrentStateRepository")
    assert may_import("equipment_usage.handlers", "equipment_current.business.CurrentState")
    assert may_import("devstack.fleet_resume", "telemetry_site.backends.repositories")
    assert may_import("stream.consumer", "confluent_kafka.KafkaException")


def package_graph() -> dict[str, set[str]]:
    packages = set(project_packages())
    graph: dict[str, set[str]] = {package: set() for package in packages}
    for package in packages:
        for module, path in modules(package):
            for _line, target in imported(module, path):
                if target.split(".")[0] in packages - {package}:
                    graph[package].add(target.split(".")[0])
    return graph


def module_graph(package: str) -> dict[str, set[str]]:
    names = {module for module, _ in modules(package)}
    graph: dict[str, set[str]] = {module: set() for module in names}
    for module, path in modules(package):
        for _line, target in imported(module, path):
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_packages_or_between_modules_of_a_package():
    # Package __init__ modules re-export nothing here, so a module-level cycle is a real one.
    assert cycles(package_graph()) == []
    assert [cycle for package in project_packages() for cycle in cycles(module_graph(package))] == []


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_business_modules_are_pure():
    offenders = []
    for package in apps():
        for module, path in modules(package):
            if not is_business(module):
                continue
            for line, target in imported(module, path):
                root, head = target.split(".")[0], ".".join(target.split(".")[:2])
                ours = root in project_packages() and not is_business(head) and head not in PURE_STREAM
                if root in IMPURE or ours:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert offenders == []


def test_the_shared_format_modules_use_the_standard_library_and_each_other_only():
    offenders = []
    for module in SHARED_FORMATS:
        path = ROOT / (module.replace(".", "/") + ".py")
        for line, target in imported(module, path):
            root = target.split(".")[0]
            if root in IMPURE or (
                root in project_packages() and not any(target.startswith(shared) for shared in SHARED_FORMATS)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert offenders == []
    assert may_import("equipment_connectors.feed", "equipment_current.aemp.client.parse_xml")
    assert not may_import("equipment_connectors.feed", "equipment_current.aemp.views.FleetView")


def test_every_module_is_under_400_lines():
    long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for package in project_packages()
        for _module, path in modules(package)
        if (lines := len(path.read_text().splitlines())) >= MAX_LINES
        and str(path.relative_to(ROOT)) not in LONG_MODULES
    ]
    assert long == []


def test_the_long_modules_allowed_exist_and_are_long():
    # An entry that no longer needs the exception is removed, so the list never hides a new one.
    for name in LONG_MODULES:
        assert len((ROOT / name).read_text().splitlines()) >= MAX_LINES, name
