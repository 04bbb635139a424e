"""Rental statements: how long a year-long contract's statement takes from the usage ledger, and
how fast the exports write.

    python -m benchmarks.rentals [--minutes 5] [--lines 10000] [--json]

The ledger (one machine, a reading every ``--minutes`` for a year) is written straight into
``usage_deltas`` of the in-process engine (or ``MONGO_URI``), in the shape the usage handler
stores; the statement is computed as ``refresh_rental_statements`` does (``compute``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from benchmarks.common import Result, command_line, database_settings, emit, setup_django

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000


def ledger_documents(minutes: int) -> list[dict]:
    start_ms = int(YEAR_START.timestamp() * 1000)
    step = minutes * MINUTE_MS
    documents, meter = [], 1000.0
    for index in range(365 * 24 * 60 // minutes + 1):
        end = start_ms + index * step
        used = (minutes / 60) * 0.5 if index else None
        previous = meter
        meter = meter + (used or 0.0)
        documents.append(
            {
                "_id": f"EX1|{end}",
                "identifier": "EX1",
                "interval_start": end - step if index else None,
                "interval_end": end,
                "start": {"hours": previous} if index else None,
                "end": {"hours": meter},
                "hours": used,
                "flags": [] if index else ["first"],
            }
        )
    return documents


def run(minutes: int = 5, lines: int = 10_000) -> list[Result]:
    import os

    from django.test.utils import override_settings

    from equipment_rentals import exports
    from equipment_rentals.business import line_values
    from equipment_rentals.models import RentalContract
    from equipment_rentals.statements import compute
    from telemetry_site.backends import databases

    engine = os.environ.get("MONGO_URI", "mongomock://")
    with override_settings(**database_settings(engine, counted=False)):
        documents = ledger_documents(minutes)
        databases["default"]["usage_deltas"].insert_many(documents)
        contract = RentalContract(
            pk=1,
            customer_ref="C",
            machine="EX1",
            on_rent=YEAR_START,
            off_rent=datetime(2026, 1, 1, tzinfo=UTC),
            basis="month",
            base_rate=Decimal(6000),
            currency="EUR",
        )
        started = time.perf_counter()
        result = compute(contract, datetime(2026, 1, 2, tzinfo=UTC), closed_only=True)
        statement_seconds = time.perf_counter() - started
        # The next refresh: the periods past the correction horizon keep their issued hours.
        previous = [line_values(line) for line in result.lines]
        started = time.perf_counter()
        compute(contract, datetime(2026, 1, 2, tzinfo=UTC), closed_only=True, previous_lines=previous)
        refresh_seconds = time.perf_counter() - started
    rows = [{"contract_id": 1, "customer_ref": "C", "machine": "EX1", **line_values(result.lines[0])}] * lines
    started = time.perf_counter()
    exports.lines_csv(rows)
    csv_seconds = time.perf_counter() - started
    started = time.perf_counter()
    exports.lines_xlsx(rows)
    xlsx_seconds = time.perf_counter() - started
    engine_name = "mongomock-ng" if engine.startswith("mongomock") else "MongoDB"
    return [
        Result(
            "rentals", f"12-month statement, {len(documents):,} ledger entries ({engine_name})", statement_seconds, "s"
        ),
        Result("rentals", "the same, next refresh (11 periods past the horizon)", refresh_seconds, "s"),
        Result("rentals", f"CSV export, {lines:,} lines", lines / csv_seconds, "lines/s"),
        Result("rentals", f"XLSX export, {lines:,} lines", lines / xlsx_seconds, "lines/s"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=5, help="minutes between readings")
    parser.add_argument("--lines", type=int, default=10_000, help="lines per export")
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.minutes, args.lines), args.json)


if __name__ == "__main__":
    main()
