"""``python -m benchmarks`` (``make bench``): every benchmark at its default sizes, one table.

    python -m benchmarks [--only decoding,pipeline,roundtrips,api,memory,scaling,archive,connectors] [--json]

Sizes are modest so that the whole run takes minutes on a 2-core machine; run a module alone for
other sizes (``python -m benchmarks.memory --messages 1000000``, ``python -m benchmarks.api --full``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from benchmarks.common import Result, command_line, emit, setup_django


def suites() -> dict[str, Callable[[], list[Result]]]:
    from benchmarks import api, archive, connectors, decoding, memory, pipeline, roundtrips, scaling

    return {
        "decoding": decoding.run,
        "pipeline": pipeline.run,
        "roundtrips": roundtrips.run,
        "api": api.run,
        "memory": memory.run,
        "scaling": scaling.run,
        "archive": archive.run,
        "connectors": connectors.run,
    }


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    setup_django()
    available = suites()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(available)}")
    results: list[Result] = []
    for name in chosen:
        started = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results += available[name]()
        print(f"  {name} took {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    emit(results, args.json)
    failed = [r for r in results if r.passed is False]
    if failed:
        print(f"\n{len(failed)} figure(s) missed their target.", file=sys.stderr)


if __name__ == "__main__":
    main()
