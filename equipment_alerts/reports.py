"""Writes the due scheduled reports: CSV and XLSX (their bytes: business_reports) to the file store
``alert_reports`` (a folder or an object store, TELEMETRY_FILE_STORES), an announcement on
ALERT_REPORTS_TOPIC, then a ReportRun row. The row is written last: a crash before it rewrites the
same files (same names, same content) and announces again with the same event id; after it,
nothing is written twice.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError

from equipment_alerts.business_reports import csv_bytes, due_periods, local_midnight_ms, report_rows, xlsx_bytes
from equipment_alerts.models import ReportRun, ReportSchedule
from equipment_alerts.parts import AlertParts
from equipment_alerts.repository import AlertRepository


class ReportWriter(AlertParts):
    PUBLISHER = "equipment_alerts.publisher.ReportPublisher"

    def __init__(self, repository: AlertRepository | None = None, store: Any = None, publisher: Any = None) -> None:
        super().__init__(repository, publisher)
        self._store = store

    @property
    def store(self) -> Any:
        if self._store is None:
            from telemetry_site.backends import file_stores

            self._store = file_stores["alert_reports"]
        return self._store

    def write_due(self, now_ms: int) -> list[ReportRun]:
        """Every due period of every enabled schedule not written yet."""
        written = []
        for schedule in ReportSchedule.objects.filter(enabled=True):
            zone = ZoneInfo(schedule.time_zone or settings.ALERTS_TIME_ZONE)
            done = set(schedule.runs.values_list("period_start", flat=True))
            for start, end in due_periods(schedule.period, zone, schedule.first_period_start, now_ms):
                if start not in done:
                    run = self.write(schedule, zone, start, end)
                    if run is not None:
                        written.append(run)
        return written

    def write(self, schedule: ReportSchedule, zone: ZoneInfo, start: Any, end: Any) -> ReportRun | None:
        alerts = self.repository.in_period(schedule.kinds, local_midnight_ms(start, zone), local_midnight_ms(end, zone))
        rows = report_rows(alerts, zone)
        name = f"schedule-{schedule.pk}/{schedule.period}-{start.isoformat()}"
        csv_location = self.store.write(f"{name}.csv", csv_bytes(rows))
        xlsx_location = self.store.write(f"{name}.xlsx", xlsx_bytes(rows, f"{schedule.period} {start.isoformat()}"))
        self.publisher.publish(
            [
                {
                    "event_id": f"{schedule.pk}-{start.isoformat()}",
                    "schedule_id": schedule.pk,
                    "schedule": schedule.name,
                    "period": schedule.period,
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "time_zone": zone.key,
                    "rows": len(rows),
                    "csv_location": csv_location,
                    "xlsx_location": xlsx_location,
                }
            ]
        )
        try:
            return ReportRun.objects.create(
                schedule=schedule,
                period_start=start,
                period_end=end,
                csv_location=csv_location,
                xlsx_location=xlsx_location,
                rows=len(rows),
            )
        except IntegrityError:  # another clock wrote it meanwhile: same files, same event id
            return None
