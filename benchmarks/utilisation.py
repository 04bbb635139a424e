"""Utilisation: how fast a month of 200 machines answers, and what the consumer adds per message.

    python -m benchmarks.utilisation [--machines 200] [--days 31] [--messages 20000] [--engine litemongo] [--json]

The month: ``--machines`` x ``--days`` daily rows written straight into ``utilisation_days`` of the
embedded store (litemongo, what ``make run`` uses; ``--engine mongomock`` for the in-process one),
then ``GET /api/v1/utilisation/`` through Django's test client, by day and by month.
The per-message cost: the same simulated fleet messages through the usage handler (the pipeline's
heaviest consumer) and through the utilisation handler, batches of 500, each on a fresh store; the
ratio is utilisation / usage time.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta

from benchmarks.common import Result, command_line, database_settings, emit, fleet_records, setup_django

TARGET_SECONDS = 0.5


class DiscardingPublisher:
    """Publishes nowhere: the benchmark measures the handler and its store, not the broker."""

    def open(self) -> None:
        pass

    def publish(self, records: list) -> int:
        return len(records)


def engine_uri(engine: str) -> str:
    return f"litemongo://{tempfile.mkdtemp(prefix='c40-bench-util-')}" if engine == "litemongo" else "mongomock://"


def month_rows(machines: int, days: int) -> list[dict]:
    first = date(2026, 3, 1)
    rows = []
    for m in range(machines):
        machine = f"EX{m:04d}"
        for d in range(days):
            day = (first + timedelta(days=d)).isoformat()
            rows.append(
                {
                    "_id": f"{machine}|{day}",
                    "machine": machine,
                    "date": day,
                    "site": f"Site {m % 7}",
                    "machine_class": "excavator" if m % 3 else "dumper",
                    "zone": "Europe/Rome",
                    "engine_hours": 6.5,
                    "available_hours": 8.0 if (first + timedelta(days=d)).weekday() < 5 else 0.0,
                    "fuel_l": 80.0,
                    "hours": {"working": 5.0, "idle": 1.5, "stationary": 0.0, "off": 10.0, "no_data": 7.5},
                    "idle_runs": {"3_6": 2, "6_9": 1, "over_9": 1},
                    "samples": 120,
                    "version": 1,
                }
            )
    return rows


def time_query(client, params: dict, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get("/api/v1/utilisation/", params)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, response.content[:300]
    return best


def handler_seconds(handler_class, records: list[dict], engine: str, batch: int = 500) -> float:
    from django.test.utils import override_settings

    with override_settings(**database_settings(engine_uri(engine), counted=False)):
        handler = handler_class(publisher=DiscardingPublisher())
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            handler.process(records[start : start + batch])
        return time.perf_counter() - started


def run(machines: int = 200, days: int = 31, messages: int = 20_000, engine: str = "litemongo") -> list[Result]:
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    from equipment_usage.business_intervals import reading_from_record
    from equipment_usage.handlers import UsageHandler
    from equipment_utilisation.handlers import UtilisationHandler
    from telemetry_site.backends import repositories

    with override_settings(
        **database_settings(engine_uri(engine), counted=False),
        API_ALLOW_ANONYMOUS_READ=True,
        ALLOWED_HOSTS=["testserver"],
    ):
        repository = repositories["utilisation"]
        rows = month_rows(machines, days)
        repository.save_rollup(rows)
        repository.save_rows(rows)
        last = (date(2026, 3, 1) + timedelta(days=days - 1)).isoformat()
        client = APIClient()
        by_day = time_query(client, {"from": "2026-03-01", "to": last})
        by_month = time_query(client, {"from": "2026-03-01", "to": last, "group_by": "month"})

    records = fleet_records(messages, machines=min(machines, 200))

    class UsageAsHandled(UsageHandler):  # usage's handler takes readings, as its ``handle`` makes them
        def process(self, batch):  # type: ignore[override]
            return super().process([reading_from_record(record) for record in batch])

    usage = handler_seconds(UsageAsHandled, records, engine)
    utilisation = handler_seconds(UtilisationHandler, records, engine)
    name = {"litemongo": "embedded store (litemongo)", "mongomock": "mongomock-ng"}[engine]
    return [
        Result(
            "utilisation",
            f"GET a month by day, {machines} machines x {days} days ({name})",
            by_day * 1000,
            "ms",
            target=f"< {TARGET_SECONDS * 1000:.0f} ms",
            passed=by_day < TARGET_SECONDS,
        ),
        Result(
            "utilisation",
            "the same, by month",
            by_month * 1000,
            "ms",
            target="< 500 ms",
            passed=by_month < TARGET_SECONDS,
        ),
        Result(
            "utilisation",
            f"consumer, {len(records):,} messages in batches of 500 ({name})",
            len(records) / utilisation,
            "msg/s",
            reference="usage consumer, same messages",
            reference_value=len(records) / usage,
            ratio=utilisation / usage,
            note="ratio = utilisation time / usage time per message",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--engine", choices=["litemongo", "mongomock"], default="litemongo")
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.machines, args.days, args.messages, args.engine), args.json)


if __name__ == "__main__":
    main()
