"""Benchmark: reading another maker's fleet feed (docs/CONNECTORS.md).

Two figures: parsing and mapping fleet pages already in memory (``parse_xml`` + ``mapping``), and
the whole walk over HTTP from a simulated maker on 127.0.0.1 (``transport`` + ``FeedWalk`` +
mapping, 100 machines a page). Publishing is measured by the pipeline benchmark; it is left out
here. Needs neither Django's database nor a broker.

    python -m benchmarks.connectors [--machines 5000] [--repeats 3]
"""

from __future__ import annotations

import time

from benchmarks.common import Result, command_line, emit

NAME = "connectors"


def run(machines: int = 5000, repeats: int = 3) -> list[Result]:
    from equipment_connectors import mapping, transport
    from equipment_connectors.auth import Authorizer, Credentials
    from equipment_connectors.fake_maker import FakeMaker, simulated_fleet
    from equipment_connectors.feed import Budget, FeedWalk, WalkState, equipment_of
    from equipment_current.aemp.client import parse_xml

    maker = FakeMaker(simulated_fleet(machines), auth="none").start()
    try:
        pages = [maker.page_xml(n) for n in range(1, maker.last_page() + 1)]
        best_map = best_walk = 0.0
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            messages = 0
            for body in pages:
                for equipment in parse_xml(body)[1]["Equipment"]:
                    found = mapping.readings_of(equipment)
                    messages += len(mapping.messages("X", found.machine, found.readings))
            best_map = max(best_map, machines / (time.perf_counter() - started))
            if messages != machines:
                raise AssertionError(f"{messages} messages from {machines} machines")
            started = time.perf_counter()
            walk = FeedWalk(
                WalkState(f"{maker.base_url}/Fleet/1"),
                fmt="xml",
                authorizer=Authorizer(Credentials("none"), None, post=None, clock=time.time),
                get=lambda url, headers: transport.request(url, headers=headers, timeout=30, max_bytes=4 << 20),
                budget=Budget(10**6, 0),
                clock=time.time,
            )
            read = 0
            for page in walk.pages():
                for equipment in equipment_of(page):
                    found = mapping.readings_of(equipment)
                    mapping.messages("X", found.machine, found.readings)
                    read += 1
            best_walk = max(best_walk, read / (time.perf_counter() - started))
    finally:
        maker.stop()
    note = f"{machines:,} machines x 6 elements, {len(pages)} pages, best of {repeats}"
    return [
        Result(NAME, "parse + map fleet pages", best_map, "machines/s", note=note),
        Result(NAME, "walk over HTTP + parse + map", best_walk, "machines/s", note=note),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    emit(run(args.machines, args.repeats), args.json)


if __name__ == "__main__":
    main()
