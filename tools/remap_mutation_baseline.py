"""One-off (issue 26, the house split): carry the mutation baseline and the equivalents over to the
moved and split modules, so that the gate re-mutates only what really changed.

    python tools/remap_mutation_baseline.py <base commit>   # the commit the baseline describes

Why it is sound: the split moved functions and methods without changing them (no behaviour change),
and mutmut names and numbers each mutant within its function (``<module>.x_<function>__mutmut_<n>``,
``<module>.xǁ<class>ǁ<method>__mutmut_<n>``). So a mutant of the old module is the same mutant of
the function's new module, and the tests that killed it still kill it (they only import from the new
paths). The script checks that instead of assuming it, for every old module of the baseline:

- the baseline's digest is that of the old source at ``<base commit>`` (else the row is dropped and
  the gate mutates the new modules afresh);
- mutmut's own generator, run on the old source, gives exactly the baseline's number of mutants;
- run on the new modules, it gives, function by function, the same number of mutants as on the old
  source, and no mutant of the new modules lacks an old one.

A row of a new module then keeps the old survivors of its functions, counts the rest as killed,
and records the new source's digest; ``tests`` is the old module's count when the module only moved,
unknown (null) when it was split. The equivalents are renamed the same way.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.mutation.file_mutation import mutate_file_contents

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tools" / "mutation_baseline.json"
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.txt"

# Old module -> the modules its functions went to (docs/ARCHITECTURE.md, the module map).
MOVED = {
    "telemetry_site/codecs.py": ["stream/codecs.py"],
    "telemetry_site/consumer.py": ["stream/consumer.py", "stream/dead_letters.py"],
    "telemetry_site/validation.py": ["stream/validation.py"],
    "equipment_usage/business.py": [
        "equipment_usage/business_ledger.py",
        "equipment_usage/business_intervals.py",
        "equipment_usage/business_daily.py",
        "equipment_usage/business_pricing.py",
        "equipment_usage/business_late.py",
    ],
    "equipment_usage/repository.py": [
        "equipment_usage/repository.py",
        "equipment_usage/repository_documents.py",
        "equipment_usage/repository_daily.py",
        "equipment_usage/repository_queries.py",
        "equipment_usage/repository_registry.py",
    ],
    "equipment_usage/handlers.py": ["equipment_usage/handlers.py", "equipment_usage/handlers_registry.py"],
}


def dotted(path: str) -> str:
    return path[: -len(".py")].replace("/", ".")


def function_of(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


def method_of(function: str) -> str | None:
    return function.split("ǁ")[2] if function.startswith("xǁ") else None


def mutants(path: str, source: str) -> list[str]:
    return list(mutate_file_contents(path, source).mutant_names)


def remap_module(old: str, row: dict, base: str) -> tuple[dict[str, dict], dict[str, str]]:
    """The new rows of the modules ``old`` went to, and old mutant name -> new mutant name."""
    source = subprocess.run(["git", "show", f"{base}:{old}"], cwd=ROOT, check=True, capture_output=True).stdout
    if hashlib.sha256(source).hexdigest() != row["sha256"]:
        raise SystemExit(f"{old}: the baseline does not describe its source at {base}")
    old_names = mutants(old, source.decode())
    if len(old_names) != row["mutants"]:
        raise SystemExit(f"{old}: mutmut generates {len(old_names)} mutants, the baseline has {row['mutants']}")
    old_counts = Counter(function_of(name) for name in old_names)
    targets = MOVED.get(old, [old])
    new_counts = {
        path: Counter(function_of(name) for name in mutants(path, (ROOT / path).read_text())) for path in targets
    }
    # Each old function's new home: the same key in a new module, else the same method name in a
    # class of a new module (a method moved into a mixin).
    home: dict[str, tuple[str, str]] = {}
    for function in old_counts:
        exact = [path for path in targets if function in new_counts[path]]
        if not exact and method_of(function):
            exact = [
                (path, key)
                for path in targets
                for key in new_counts[path]
                if method_of(key) == method_of(function) and key not in old_counts
            ]
            if len(exact) != 1:
                raise SystemExit(f"{old}: {function} has {len(exact)} candidate new homes: {exact}")
            home[function] = exact[0]
            continue
        if len(exact) != 1:
            raise SystemExit(f"{old}: {function} is in {len(exact)} new modules: {exact}")
        home[function] = (exact[0], function)
    for function, (path, key) in home.items():
        if new_counts[path][key] != old_counts[function]:
            raise SystemExit(
                f"{old}: {function} has {old_counts[function]} mutants, {path} {key} {new_counts[path][key]}"
            )
    homed = {(path, key) for path, key in home.values()}
    for path, counts in new_counts.items():
        stray = [key for key in counts if (path, key) not in homed]
        if stray:
            raise SystemExit(f"{path}: mutants of {stray} have no old counterpart in {old}")

    renamed: dict[str, str] = {}
    for name in old_names:
        path, key = home[function_of(name)]
        renamed[f"{dotted(old)}.{name}"] = f"{dotted(path)}.{key}__mutmut_{name.rsplit('__mutmut_', 1)[1]}"
    rows = {}
    for path in targets:
        mine = {
            kind: sorted(renamed[name] for name in row[kind] if renamed[name].startswith(dotted(path) + ".x"))
            for kind in ("survivors", "no_tests", "other")
        }
        total = sum(new_counts[path].values())
        rows[path] = {
            "sha256": hashlib.sha256((ROOT / path).read_bytes()).hexdigest(),
            "tests": row["tests"] if len(targets) == 1 else None,
            "mutants": total,
            "killed": total - sum(len(names) for names in mine.values()),
            **mine,
        }
    return rows, renamed


def main(base: str) -> int:
    document = json.loads(BASELINE.read_text())
    modules: dict[str, dict] = {}
    renamed: dict[str, str] = {}
    for old, row in document["modules"].items():
        rows, names = remap_module(old, row, base)
        modules.update(rows)
        renamed.update(names)
    before = sum(row["mutants"] for row in document["modules"].values())
    after = sum(row["mutants"] for row in modules.values())
    if (before, sum(r["killed"] for r in document["modules"].values())) != (
        after,
        sum(r["killed"] for r in modules.values()),
    ):
        raise SystemExit("the remapped baseline does not add up to the old one")
    document["modules"] = dict(sorted(modules.items()))
    document["remapped"] = f"issue 26 (house split) from the baseline of {document['recorded']}, source at {base}"
    BASELINE.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    lines = []
    for line in EQUIVALENTS.read_text().splitlines():
        name, space, reason = line.partition(" ")
        lines.append(f"{renamed.get(name, name)}{space}{reason}" if not line.startswith("#") else line)
    EQUIVALENTS.write_text("\n".join(lines) + "\n")
    print(f"{len(modules)} modules, {after} mutants; {sum(1 for n in renamed if renamed[n] != n)} mutant names moved")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
