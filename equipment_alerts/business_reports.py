"""Scheduled alert reports (pure): calendar periods in local time and the report's rows.

A period is a local day, an ISO week (Monday to Monday) or a calendar month; it is due once its
end (local midnight) has passed. Rows are the alerts that started in the period, oldest first;
the report is their CSV and XLSX bytes (reports.py writes them to the file store).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

DAY, WEEK, MONTH = "day", "week", "month"
COLUMNS = (
    "alert_id",
    "machine",
    "kind",
    "rule",
    "state",
    "start",
    "end",
    "duration_min",
    "value",
    "detail",
    "acked_by",
)
# Text a spreadsheet would run as a formula; machine ids and details come from other teams' feeds.
FORMULA_STARTS = ("=", "+", "-", "@")


def period_start(day: date, period: str) -> date:
    """The start of the period that contains ``day``."""
    if period == DAY:
        return day
    if period == WEEK:
        return day - timedelta(days=day.weekday())
    if period == MONTH:
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def next_period_start(start: date, period: str) -> date:
    if period == DAY:
        return start + timedelta(days=1)
    if period == WEEK:
        return start + timedelta(days=7)
    if period == MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    raise ValueError(f"unknown period {period!r}")


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, datetime.min.time(), zone).timestamp() * 1000)


def due_periods(period: str, zone: ZoneInfo, first: date, now_ms: int, limit: int = 400) -> list[tuple[date, date]]:
    """(start, end) of every period from the one containing ``first`` whose end (local midnight)
    is at or before ``now_ms``, oldest first; at most ``limit`` (a schedule created with a start
    far back catches up over several runs)."""
    periods = []
    start = period_start(first, period)
    while len(periods) < limit:
        end = next_period_start(start, period)
        if local_midnight_ms(end, zone) > now_ms:
            break
        periods.append((start, end))
        start = end
    return periods


def local_text(ms: int | None, zone: ZoneInfo) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")


def safe_text(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def report_rows(alerts: Iterable[dict], zone: ZoneInfo) -> list[dict[str, Any]]:
    """One row per alert document (as stored), in the report's columns; times local with offset."""
    rows = []
    for alert in alerts:
        end = alert.get("end")
        rows.append(
            {
                "alert_id": alert["_id"],
                "machine": alert["machine"],
                "kind": alert["kind"],
                "rule": alert["rule"],
                "state": alert.get("state") or ("open" if end is None else "resolved"),
                "start": local_text(alert["start"], zone),
                "end": local_text(end, zone),
                "duration_min": None if end is None else round((end - alert["start"]) / 60_000, 2),
                "value": alert.get("value"),
                "detail": alert.get("detail") or "",
                "acked_by": alert.get("acked_by") or "",
            }
        )
    return rows


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)  # rows end with \r\n, csv's default
    writer.writeheader()
    for row in rows:
        writer.writerow({k: safe_text(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue().encode()  # UTF-8


def xlsx_bytes(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    """Numbers as numbers, the rest text (a text cell starting with = is no formula in openpyxl
    only if it is typed as a string, hence the explicit data type)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31] or "alerts"
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[name] for name in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
