"""Mutation testing with mutmut 3: run a profile, print the scoreboard, enforce the thresholds.

    python tools/mutation.py gate [--max-children 2]   # CI: business modules + the modules changed since the baseline
    python tools/mutation.py full [--max-children 2]   # everything in [tool.mutmut], overall >= 90 %; the baseline
    python tools/mutation.py business [PATH ...]       # business modules against the pure tests (the gate's first run)
    python tools/mutation.py report full               # the table of the last run, without running

The gate fits in CI's time by mutating only what can have changed: the pure business modules
(always, against the pure tests alone) and every other mutated module whose source differs from the
one recorded in ``tools/mutation_baseline.json`` (against the fast layers). The rows of the
unchanged modules come from that baseline, which a complete full run writes; the overall score is
computed over all of them together.

Each profile runs in its own staged copy of the project (``var/mutation/<profile>/``: the files git
knows, committed or not), so the gate and the full run never share mutmut's caches and the work
tree is left alone. The ``[tool.mutmut]`` section of ``pyproject.toml`` is the full run's
configuration; a profile overrides some of its keys in the staged copy only.

Scores are computed before any exclusion: killed / mutants. A surviving mutant is then either
listed in ``tools/mutation_equivalents.txt`` (``<mutant name>  <one line: why it cannot change
behaviour>``) or the run fails; the "after equivalents" score counts listed survivors as resolved.
Thresholds: 100 % after equivalents for every pure business module, 90 % overall before them.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "var" / "mutation"
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.txt"
BASELINE = ROOT / "tools" / "mutation_baseline.json"

# The pure business modules: each app's business.py, or its business_<concept>.py when split by
# concept; and the pure tests that must pin them alone (no database, no Django): every app's
# test_business*.py, and test_<concept>_business.py where a concept has its own file.
BUSINESS_PATTERN = "equipment_*/business*.py"
PURE_TEST_PATTERN = "tests/*/test_*business*.py"
# Business modules whose pure tests do not pin them yet: the gate leaves them out until
# `python tools/mutation.py business <path>` shows no unlisted survivor. Empty is the goal.
NOT_PINNED_YET: set[str] = set()
BUSINESS_THRESHOLD = 100.0
OVERALL_THRESHOLD = 90.0
MAX_LISTED = 60

# Keys of [tool.mutmut] each profile overrides in its staged copy.
PROFILES: dict[str, dict[str, object]] = {
    # The business modules against the pure tests (both filled in at run time); "business" is the
    # same run on the modules named on the command line, for whoever is writing those tests.
    "gate": {},
    "business": {},
    "full": {},
    # The gate's second run: the non-business modules changed since the baseline (only_mutate is
    # filled in at run time), against the fast layers like the full run.
    "changed": {},
}

# mutmut's exit-code vocabulary (mutmut/stats.py), folded into the columns of the scoreboard.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # test failure, pytest error, timeout, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


SERVICES = {"equipment_current": "current", "equipment_history": "history", "equipment_usage": "usage"}


@dataclass
class ModuleScore:
    path: str
    tests: int | None = 0  # None: not known (a service row that sums baseline rows, which keep no test ids)
    test_ids: set[str] = field(default_factory=set)
    mutants: int = 0
    killed: int = 0
    survivors: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    not_checked: int = 0
    equivalent: int = 0

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.mutants if self.mutants else 100.0

    @property
    def resolved_score(self) -> float:
        return 100.0 * (self.killed + self.equivalent) / self.mutants if self.mutants else 100.0

    def to_baseline(self) -> dict[str, object]:
        return {
            "sha256": source_digest(self.path),
            "tests": self.tests,
            "mutants": self.mutants,
            "killed": self.killed,
            "survivors": self.survivors,
            "no_tests": self.no_tests,
            "other": self.other,
        }

    @classmethod
    def from_baseline(cls, path: str, row: dict, equivalents: dict[str, str]) -> ModuleScore:
        module = cls(
            path=path,
            tests=row["tests"],
            mutants=row["mutants"],
            killed=row["killed"],
            survivors=list(row["survivors"]),
            no_tests=list(row["no_tests"]),
            other=list(row["other"]),
        )
        module.equivalent = sum(name in equivalents for name in module.survivors + module.no_tests)
        return module


def business_modules(*, pinned_only: bool = True) -> list[str]:
    names = (name for name in staged_files() if fnmatch.fnmatchcase(name, BUSINESS_PATTERN))
    return sorted(name for name in names if not (pinned_only and name in NOT_PINNED_YET))


def business_overrides(modules: list[str]) -> dict[str, object]:
    """The [tool.mutmut] keys of a run that mutates ``modules`` against the pure tests alone."""
    pure_tests = sorted(name for name in staged_files() if fnmatch.fnmatchcase(name, PURE_TEST_PATTERN))
    return {"only_mutate": modules, "pytest_add_cli_args_test_selection": pure_tests}


def source_digest(path: str) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def mutated_modules() -> list[str]:
    """The files the full run mutates: ``only_mutate`` of [tool.mutmut] matched against the files git knows."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    return sorted(name for name in staged_files() if any(fnmatch.fnmatchcase(name, p) for p in patterns))


def load_baseline() -> dict[str, dict]:
    return json.loads(BASELINE.read_text())["modules"] if BASELINE.exists() else {}


def write_baseline(scores: list[ModuleScore], elapsed: float | None) -> None:
    """Record a complete full run: per module, its source's digest and its results."""
    document = {
        "recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": None if elapsed is None else round(elapsed),
        "modules": {module.path: module.to_baseline() for module in scores},
    }
    BASELINE.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"Baseline written: {BASELINE.relative_to(ROOT)} (commit it: the gate reads it)")


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``mutant name -> reason`` from the reviewed list; every entry must give a reason."""
    equivalents: dict[str, str] = {}
    if not path.exists():
        return equivalents
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path.name}:{number}: {name} has no reason")
        equivalents[name] = reason.strip()
    return equivalents


def staged_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in out.splitlines() if (ROOT / name).is_file()]


def mutmut_section(overrides: dict[str, object]) -> str:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    config.update(overrides)
    return "[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items())


def stage(profile: str, *, fresh: bool = True, overrides: dict[str, object] | None = None) -> Path:
    """A copy of the project for ``profile``, with the profile's [tool.mutmut] section.

    ``fresh=False`` keeps mutmut's results (``mutants/``) and only refreshes the files.
    """
    target = STAGE / profile
    if fresh:
        shutil.rmtree(target, ignore_errors=True)
    else:
        forget_copied_files(target / "mutants")
    for name in staged_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    pyproject = target / "pyproject.toml"
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject.read_text())
    pyproject.write_text(text.rstrip() + "\n\n" + mutmut_section({**PROFILES[profile], **(overrides or {})}))
    return target


def forget_copied_files(mutants: Path) -> None:
    """Delete the files mutmut copied into ``mutants/`` without mutating them (templates, data).

    mutmut copies such a file only when it is missing, so after ``--resume`` the mutants would run
    against the templates of the first run. Its Python files and their ``.meta`` results stay: mutmut
    refreshes those itself, by modification time and function hashes.
    """
    source_paths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["source_paths"]
    for source in source_paths:
        for path in (mutants / source).rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".meta"}:
                path.unlink()


def unresolved(workdir: Path) -> list[str]:
    """The mutants of the last run that were not killed (what ``--resume`` runs again)."""
    names = []
    for meta in (workdir / "mutants").rglob("*.py.meta"):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        names += [name for name, code in exit_codes.items() if code not in KILLED and code is not None]
    return sorted(names)


def run_mutmut(workdir: Path, max_children: int, names: list[str]) -> float:
    """Run mutmut in ``workdir``; its progress spinner goes to ``<workdir>.log``, the summary here."""
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = workdir.with_suffix(".log")
    started = time.monotonic()
    with log.open("w") as out:
        command = [str(mutmut), "run", "--max-children", str(max_children), *names]
        code = subprocess.run(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    elapsed = time.monotonic() - started
    tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()
    markers = ("mutations/second", "    done", "Stopping", "failed")
    summary = [line for line in tail if line.startswith(markers) or markers[0] in line]
    print("\n".join(summary[-4:]) or "\n".join(tail[-20:]))
    if code != 0:
        print("\n".join(tail[-15:]))
        raise SystemExit(f"mutmut exited with {code}; full output in {log}")
    return elapsed


def tests_by_module(workdir: Path) -> dict[str, set[str]]:
    """The tests mutmut saw call into each module (its stats run), by module path."""
    stats_path = workdir / "mutants" / "mutmut-stats.json"
    if not stats_path.exists():
        return {}
    stats = json.loads(stats_path.read_text())
    result: dict[str, set[str]] = {}
    for function, tests in stats.get("tests_by_mangled_function_name", {}).items():
        module = function.split(".x_")[0].split(".xǁ")[0]
        result.setdefault(module.replace(".", "/") + ".py", set()).update(tests)
    return result


def scoreboard(workdir: Path, equivalents: dict[str, str]) -> list[ModuleScore]:
    covering = tests_by_module(workdir)
    scores = []
    for meta in sorted((workdir / "mutants").rglob("*.py.meta")):
        path = str(meta.relative_to(workdir / "mutants"))[: -len(".meta")]
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not exit_codes:
            continue
        tests = covering.get(path, set())
        module = ModuleScore(path=path, tests=len(tests), test_ids=tests, mutants=len(exit_codes))
        for name, code in sorted(exit_codes.items()):
            if code in KILLED:
                module.killed += 1
            elif code in SURVIVED:
                module.survivors.append(name)
            elif code in NO_TESTS:
                module.no_tests.append(name)
            elif code is None:
                module.not_checked += 1
            else:
                module.other.append(name)
        module.equivalent = sum(name in equivalents for name in module.survivors + module.no_tests)
        scores.append(module)
    return scores


def by_service(scores: list[ModuleScore]) -> list[ModuleScore]:
    """The seed's view: one row per service (its rules, repository, handlers, views) and the shared code."""
    services: dict[str, ModuleScore] = {}
    for module in scores:
        name = SERVICES.get(module.path.split("/")[0], "shared (stream, telemetry_site)")
        total = services.setdefault(name, ModuleScore(path=name))
        total.test_ids |= module.test_ids
        # The baseline keeps counts, not test ids (and no count for a module split since it was recorded).
        from_baseline = (module.tests is None or bool(module.tests)) and not module.test_ids
        total.tests = None if from_baseline or total.tests is None else len(total.test_ids)
        total.mutants += module.mutants
        total.killed += module.killed
        total.equivalent += module.equivalent
        total.not_checked += module.not_checked
    return list(services.values())


def format_table(scores: list[ModuleScore]) -> str:
    lines = [
        "| module | tests | mutants | killed | score | equivalent | after equivalents |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = ModuleScore(path="**overall**")
    for module in scores:
        name = f"`{module.path}`" if module.path.endswith(".py") else module.path
        tests = "—" if module.tests is None else module.tests
        lines.append(
            f"| {name} | {tests} | {module.mutants} | {module.killed} | {module.score:.1f} % "
            f"| {module.equivalent} | {module.resolved_score:.1f} % |"
        )
        total.mutants += module.mutants
        total.killed += module.killed
        total.equivalent += module.equivalent
    lines.append(
        f"| {total.path} | | {total.mutants} | {total.killed} | {total.score:.1f} % | {total.equivalent} "
        f"| {total.resolved_score:.1f} % |"
    )
    return "\n".join(lines)


def verdict(scores: list[ModuleScore], equivalents: dict[str, str], *, every_survivor: bool = True) -> list[str]:
    """What fails the run: a business module below 100 %, overall below 90 %, and with
    ``every_survivor`` (the full run) any survivor that is neither killed nor listed. The gate checks
    the thresholds only: the survivors of the other modules are the full run's to resolve."""
    failures = []
    business = set(business_modules())
    unchecked = sum(module.not_checked for module in scores)
    if unchecked:
        failures.append(f"{unchecked} mutants not checked yet: the run is incomplete (--resume continues it)")
    for module in scores:
        if every_survivor or module.path in business:
            for name in module.survivors + module.no_tests + module.other:
                if name not in equivalents:
                    failures.append(f"{name} survived and is not listed as equivalent")
        if module.path in business and module.resolved_score < BUSINESS_THRESHOLD:
            failures.append(f"{module.path}: {module.resolved_score:.1f} % < {BUSINESS_THRESHOLD:.0f} %")
    mutants = sum(module.mutants for module in scores)
    killed = sum(module.killed for module in scores)
    if mutants and 100.0 * killed / mutants < OVERALL_THRESHOLD:
        failures.append(f"overall {100.0 * killed / mutants:.1f} % < {OVERALL_THRESHOLD:.0f} %")
    return failures


def report(profile: str, elapsed: float | None = None, scores: list[ModuleScore] | None = None) -> int:
    workdir = STAGE / profile
    equivalents = load_equivalents()
    if scores is None:
        scores = scoreboard(workdir, equivalents)
    if not scores:
        print(f"No mutation results in {workdir}: run `python tools/mutation.py {profile}` first.")
        return 2
    if profile == "full" and elapsed is not None and not any(module.not_checked for module in scores):
        write_baseline(scores, elapsed)
    print()
    print(f"Mutation scoreboard ({profile}){f', {elapsed:.0f} s' if elapsed is not None else ''}:")
    print(format_table(scores))
    print()
    print(format_table(by_service(scores)).replace("| module |", "| service |"))
    failures = verdict(scores, equivalents, every_survivor=profile != "gate")
    complete = not any(module.not_checked for module in scores)
    known = {name for module in scores for name in module.survivors + module.no_tests + module.other}
    for name in sorted(set(equivalents) - known):
        mutated = any(name.startswith(module.path[:-3].replace("/", ".") + ".") for module in scores)
        if mutated and complete:
            print(f"note: {name} is listed as equivalent but was killed or no longer exists")
    if failures:
        print()
        print(f"FAILED ({len(failures)}):")
        for failure in failures[:MAX_LISTED]:
            print(f"  {failure}")
        if len(failures) > MAX_LISTED:
            print(f"  ... and {len(failures) - MAX_LISTED} more")
        print("Show a mutant: cd var/mutation/" + profile + " && mutmut show <name>")
        return 1
    print()
    print("OK: every surviving mutant is listed as equivalent; thresholds met.")
    return 0


def gate(max_children: int) -> int:
    """CI: mutate the business modules and the modules changed since the baseline; the rest from it."""
    equivalents = load_equivalents()
    baseline = load_baseline()
    business = business_modules()
    modules = [path for path in mutated_modules() if path not in business]
    changed = [path for path in modules if baseline.get(path, {}).get("sha256") != source_digest(path)]
    elapsed = run_mutmut(stage("gate", overrides=business_overrides(business)), max_children, [])
    scores = scoreboard(STAGE / "gate", equivalents)
    if changed:
        print(f"Changed since the baseline, mutated now: {', '.join(changed)}")
        elapsed += run_mutmut(stage("changed", overrides={"only_mutate": changed}), max_children, [])
        scores += scoreboard(STAGE / "changed", equivalents)
    unchanged = [path for path in modules if path not in changed]
    if unchanged:
        print(f"Unchanged since the baseline ({BASELINE.name}), rows taken from it: {len(unchanged)} modules")
    scores += [ModuleScore.from_baseline(path, baseline[path], equivalents) for path in unchanged]
    return report("gate", elapsed, sorted(scores, key=lambda module: module.path))


def business(paths: list[str], max_children: int) -> int:
    """Mutate some business modules (all by default) against the pure tests: the gate's first run."""
    unknown = sorted(set(paths) - set(business_modules(pinned_only=False)))
    if unknown:
        raise SystemExit(f"not business modules ({BUSINESS_PATTERN}): {', '.join(unknown)}")
    elapsed = run_mutmut(stage("business", overrides=business_overrides(paths or business_modules())), max_children, [])
    return report("business", elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gate_parser = sub.add_parser("gate", help="CI: business modules and changed modules, the rest from the baseline")
    gate_parser.add_argument("--max-children", type=int, default=2)
    pure = sub.add_parser("business", help="mutate business modules (default: all) against the pure tests alone")
    pure.add_argument("paths", nargs="*", help=f"modules matching {BUSINESS_PATTERN}")
    pure.add_argument("--max-children", type=int, default=2)
    run = sub.add_parser("full", help="mutate everything, print the table, apply the thresholds, write the baseline")
    run.add_argument("--max-children", type=int, default=2)
    run.add_argument(
        "--resume",
        action="store_true",
        help="keep the last run's results, refresh the files and run again only the mutants not killed",
    )
    run.add_argument("--only", default="*", help="with --resume: only mutants matching this glob")
    show = sub.add_parser("report", help="print the table of a profile's last run")
    show.add_argument("profile", choices=sorted(PROFILES))
    args = parser.parse_args(argv)
    if args.command == "report":
        return report(args.profile)
    if args.command == "gate":
        return gate(args.max_children)
    if args.command == "business":
        return business(args.paths, args.max_children)
    names = unresolved(STAGE / args.command) if args.resume and (STAGE / args.command).exists() else []
    names = [name for name in names if fnmatch.fnmatchcase(name, args.only)]
    workdir = stage(args.command, fresh=not args.resume)
    # Without names mutmut runs the mutants that have no result: all of them in a fresh stage; after
    # --resume, those of functions edited since (mutmut resets them). Then the survivors again.
    elapsed = run_mutmut(workdir, args.max_children, [])
    names = [name for name in unresolved(workdir) if name in set(names)]
    if names:
        elapsed += run_mutmut(workdir, args.max_children, names)
    return report(args.command, elapsed)


if __name__ == "__main__":
    sys.exit(main())
