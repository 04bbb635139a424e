"""The clock: silent machines (opened by ``alerts_clock``, resolved by the consumer) and scheduled
reports (CSV and XLSX read back with csv and openpyxl, announced on the broker, written once)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from equipment_alerts.business import HOUR_MS, MINUTE_MS
from equipment_alerts.business_lifecycle import OPENED, RESOLVED, Alert
from equipment_alerts.business_reports import COLUMNS, due_periods
from equipment_alerts.clock import SilenceWatch
from equipment_alerts.handlers import AlertHandler
from equipment_alerts.models import ReportRun, ReportSchedule
from equipment_alerts.repository import AlertRepository
from stream.codecs import JsonCodec
from stream.consumer import Record
from telemetry_site import backends
from tests.alerts.test_consumer_broker import RecordingPublisher, read_events
from tests.factories import telemetry

NOON = int(datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp() * 1000)


def records(timestamps):
    return [Record(telemetry("EX9", ts), b"EX9", "t", 0, i) for i, ts in enumerate(timestamps)]


@pytest.mark.django_db
def test_silent_at_noon_opens_at_16_00_on_the_clock_resolves_at_the_next_reading_and_is_not_repeated(mongo_db):
    repository, publisher = AlertRepository(mongo_db), RecordingPublisher()
    handler = AlertHandler(repository, publisher)
    watch = SilenceWatch(repository, publisher)
    handler.handle(records(range(NOON - 24 * HOUR_MS, NOON + 1, 5 * MINUTE_MS)))
    publisher.messages.clear()
    assert watch.check(NOON + 4 * HOUR_MS - 1) == []
    (opened,) = [e for e in watch.check(NOON + 4 * HOUR_MS) if e.alert.kind == "silent"]
    assert opened.type == OPENED and opened.at == NOON + 4 * HOUR_MS and opened.alert.start == NOON
    assert watch.check(NOON + 4 * HOUR_MS + 5 * MINUTE_MS) == []  # the same silence: nothing new
    handler.handle(records([NOON + 5 * HOUR_MS]))
    (resolved,) = [m for m in publisher.messages if m["kind"] == "silent" and m["type"] == RESOLVED]
    assert resolved["end"] == NOON + 5 * HOUR_MS and resolved["alert_id"] == opened.alert.id
    # Silent again 4 h later, within 24 h of the first silent alert: not repeated.
    assert watch.check(NOON + 9 * HOUR_MS + MINUTE_MS) == []
    assert len(watch.check(NOON + 28 * HOUR_MS + MINUTE_MS)) == 1


def test_periods_are_local_calendar_days_weeks_and_months():
    rome = ZoneInfo("Europe/Rome")
    now = int(datetime(2026, 12, 7, 23, 30, tzinfo=UTC).timestamp() * 1000)  # Tue 00:30 in Rome
    assert due_periods("day", rome, date(2026, 12, 6), now) == [
        (date(2026, 12, 6), date(2026, 12, 7)),
        (date(2026, 12, 7), date(2026, 12, 8)),
    ]
    assert due_periods("week", rome, date(2026, 11, 25), now) == [
        (date(2026, 11, 23), date(2026, 11, 30)),
        (date(2026, 11, 30), date(2026, 12, 7)),
    ]
    assert due_periods("month", rome, date(2026, 10, 15), now) == [
        (date(2026, 10, 1), date(2026, 11, 1)),
        (date(2026, 11, 1), date(2026, 12, 1)),
    ]
    assert due_periods("day", rome, date(2026, 12, 7), now - HOUR_MS) == []  # 23:30 in Rome: not over


@pytest.mark.django_db
def test_a_due_report_is_written_once_as_csv_and_xlsx_and_announced(mongo_db, kafka, settings, tmp_path):
    settings.TELEMETRY_FILE_STORES = {
        "alert_reports": {"BACKEND": "telemetry_site.file_store.FileStore", "OPTIONS": {"path": str(tmp_path)}}
    }
    day = int(datetime(2026, 12, 3, 23, 0, tzinfo=UTC).timestamp() * 1000)  # 4 Dec 00:00 in Rome
    repository = backends.repositories["alerts"]
    repository.save_alerts(
        [
            Alert(
                "a", "EX1", "builtin:after_hours", "after_hours", day + HOUR_MS, day + HOUR_MS + 12 * MINUTE_MS, 12.0
            ),
            Alert("b", "=EX2", "builtin:fuel_drain", "fuel_drain", day + 2 * HOUR_MS, None, 15.0, "=1+1"),
            Alert("c", "EX3", "builtin:refuel", "refuel", day + 3 * HOUR_MS, None, 240.0),  # not in the rule set
            Alert(
                "d", "EX1", "builtin:after_hours", "after_hours", day + 4 * HOUR_MS, day + 5 * HOUR_MS, 1.0, "", True
            ),
            Alert("e", "EX1", "builtin:after_hours", "after_hours", day - MINUTE_MS, day, 1.0),  # the day before
        ],
        0,
    )
    schedule = ReportSchedule.objects.create(
        name="night shift",
        kinds=["after_hours", "fuel_drain"],
        period="day",
        time_zone="Europe/Rome",
        first_period_start=date(2026, 12, 4),
    )
    for _ in range(2):
        out = io.StringIO()
        call_command("alerts_clock", "--now", "2026-12-05T00:10:00+01:00", stdout=out)
    assert "0 reports written" in out.getvalue() and ReportRun.objects.count() == 1  # the second run
    run = ReportRun.objects.get()
    assert (run.schedule, run.period_start, run.period_end, run.rows) == (
        schedule,
        date(2026, 12, 4),
        date(2026, 12, 5),
        2,
    )

    with open(run.csv_location, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(r["alert_id"], r["machine"], r["detail"]) for r in rows] == [("a", "EX1", ""), ("b", "'=EX2", "'=1+1")]
    assert rows[0]["start"] == "2026-12-04T01:00:00+01:00" and rows[0]["duration_min"] == "12.0"

    sheet = load_workbook(run.xlsx_location).active
    table = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert table[0] == list(COLUMNS) and [row[0] for row in table[1:]] == ["a", "b"]
    assert table[2][1] == "=EX2" and sheet.cell(3, 2).data_type == "s"  # text, never a formula
    assert table[1][7] == 12.0 and table[2][8] == 15.0

    (event,) = read_events(kafka, settings.ALERT_REPORTS_TOPIC, JsonCodec("alert_report.avsc"))
    assert (event["xlsx_location"], event["csv_location"], event["rows"]) == (run.xlsx_location, run.csv_location, 2)
    assert event["event_id"] == f"{schedule.pk}-2026-12-04"
