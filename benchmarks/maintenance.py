"""Maintenance: the fleet list's latency (``GET /api/v1/maintenance/?ordering=forecast_date``) for a
fleet on the embedded store.

    python -m benchmarks.maintenance [--machines 200] [--templates 4] [--requests 20] [--json]

Each machine has ``--templates`` plans (250/500/1,000/2,000 h tiers) with one service each, engine
hours in the current state and 30 days of daily usage totals; the store is the embedded default
(litemongo in the run directory) unless ``--engine`` names another URI (``mongomock://``,
``mongodb://...``). Django's SQL tables are
migrated into the benchmark's temporary run directory. The figure is the median and p95 of the
requests through the Django test client (no HTTP server), authenticated.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from benchmarks.common import Result, command_line, database_settings, emit, setup_django

TODAY = date(2026, 6, 30)
TIERS = (250, 500, 1000, 2000)


def seed(machines: int, templates: int) -> None:
    from equipment_current.business import fold_state_updates
    from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord, TemplateAssignment
    from telemetry_site.backends import databases, repositories

    plans = [MaintenanceTemplate.objects.create(name=f"{h} h", interval_hours=h) for h in TIERS[:templates]]
    names = [f"EX{i:04d}" for i in range(machines)]
    TemplateAssignment.objects.bulk_create(TemplateAssignment(template=p, machine=m) for p in plans for m in names)
    ServiceRecord.objects.bulk_create(
        ServiceRecord(template=p, machine=m, hours=1000.0, date=date(2026, 5, 1)) for p in plans for m in names
    )
    at = int(datetime(2026, 6, 30, tzinfo=UTC).timestamp() * 1000)
    records = [
        {"identifier": m, "timestamp": at, "c40": {"odometry": {"hours_tot": 1100.0 + i % 300}}}
        for i, m in enumerate(names)
    ]
    repositories["current_state"].apply(fold_state_updates(records).values())
    # Daily totals in the shape usage stores them (one source per machine and day).
    databases["default"]["usage_daily"].insert_many(
        {
            "_id": f"{m}|{TODAY - timedelta(days=d)}|unassigned",
            "identifier": m,
            "date": str(TODAY - timedelta(days=d)),
            "source": "unassigned",
            "hours": 6.5,
        }
        for m in names
        for d in range(1, 31)
    )


def run(machines: int = 200, templates: int = 4, requests: int = 20, engine: str | None = None) -> list[Result]:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    # The embedded default (run_embedded's store), in the benchmark's run directory.
    engine = engine or f"litemongo://{os.environ['C40_RUN_DIR']}/litemongo-maintenance"
    call_command("migrate", verbosity=0)
    now = datetime(2026, 6, 30, 9, tzinfo=UTC)
    with override_settings(
        MAINTENANCE_CLOCK=lambda: now, ALLOWED_HOSTS=["testserver"], **database_settings(engine, counted=False)
    ):
        seed(machines, templates)
        client = APIClient()
        client.force_authenticate(User(username="bench"))
        # One page of every row: the figure is the whole fleet's list.
        url = f"/api/v1/maintenance/?ordering=forecast_date&page_size={machines * templates}"
        response = client.get(url)  # warm: registries, indexes
        assert response.status_code == 200 and len(response.json()["results"]) == machines * templates, (
            response.content[:200]
        )
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
    engine_name = engine.split(":", 1)[0]
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))]
    label = f"fleet list, {machines} machines x {templates} plans ({engine_name})"
    return [
        Result("maintenance", f"{label}, median", statistics.median(timings), "ms"),
        Result("maintenance", f"{label}, p95", p95, "ms"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--templates", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--engine", default=None, help="a MongoDB URI; default: litemongo in the run directory")
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.machines, args.templates, args.requests, args.engine), args.json)


if __name__ == "__main__":
    main()
