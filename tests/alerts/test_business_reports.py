"""Scheduled reports (pure): local calendar periods (day, ISO week, month; DST), when a period is
due, the report's rows and their CSV and XLSX bytes (read back with csv and openpyxl)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from equipment_alerts.business_reports import (
    COLUMNS,
    DAY,
    MONTH,
    WEEK,
    csv_bytes,
    due_periods,
    local_midnight_ms,
    local_text,
    next_period_start,
    period_start,
    report_rows,
    safe_text,
    xlsx_bytes,
)
from tests.properties import property_settings

ROME = ZoneInfo("Europe/Rome")
HOUR_MS = 3_600_000


def utc_ms(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp() * 1000)


# --- periods ------------------------------------------------------------------------------------------


def test_a_week_runs_from_monday_and_a_month_from_the_first_into_the_next_year():
    wednesday = date(2026, 12, 30)
    assert period_start(wednesday, DAY) == wednesday
    assert period_start(wednesday, WEEK) == date(2026, 12, 28)
    assert period_start(date(2026, 12, 28), WEEK) == date(2026, 12, 28)  # a Monday is its own week's start
    assert period_start(date(2027, 1, 3), WEEK) == date(2026, 12, 28)  # Sunday: the week that began Monday
    assert period_start(wednesday, MONTH) == date(2026, 12, 1)
    assert next_period_start(wednesday, DAY) == date(2026, 12, 31)
    assert next_period_start(date(2026, 12, 28), WEEK) == date(2027, 1, 4)
    assert next_period_start(date(2026, 11, 1), MONTH) == date(2026, 12, 1)
    assert next_period_start(date(2026, 12, 1), MONTH) == date(2027, 1, 1)


@pytest.mark.parametrize("function", [period_start, next_period_start])
def test_an_unknown_period_is_refused_by_name(function):
    with pytest.raises(ValueError, match="unknown period 'year'"):
        function(date(2026, 12, 1), "year")


@property_settings(200)
@given(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.sampled_from([DAY, WEEK, MONTH]))
def test_every_day_lies_in_exactly_one_period_and_periods_follow_each_other(day, period):
    start = period_start(day, period)
    end = next_period_start(start, period)
    assert start <= day < end
    assert period_start(start, period) == start and period_start(end, period) == end  # back to back
    assert period_start(end - timedelta(days=1), period) == start  # the day before the next is still this one
    if period == WEEK:
        assert start.weekday() == 0 and (end - start).days == 7
    if period == MONTH:
        assert start.day == 1 and end.day == 1 and 28 <= (end - start).days <= 31


def test_a_local_day_is_23_or_25_hours_on_the_dst_days():
    assert local_midnight_ms(date(2026, 12, 4), ROME) == utc_ms(2026, 12, 3, 23)
    assert local_midnight_ms(date(2026, 7, 1), ROME) == utc_ms(2026, 6, 30, 22)
    spring = local_midnight_ms(date(2026, 3, 30), ROME) - local_midnight_ms(date(2026, 3, 29), ROME)
    autumn = local_midnight_ms(date(2026, 10, 26), ROME) - local_midnight_ms(date(2026, 10, 25), ROME)
    assert (spring, autumn) == (23 * HOUR_MS, 25 * HOUR_MS)


def test_a_period_is_due_from_its_local_midnight_on_not_a_millisecond_before():
    midnight = utc_ms(2026, 3, 29, 22)  # 30 March 00:00 in Rome (summer time since 29 March 03:00)
    assert due_periods(DAY, ROME, date(2026, 3, 29), midnight - 1) == []
    assert due_periods(DAY, ROME, date(2026, 3, 29), midnight) == [(date(2026, 3, 29), date(2026, 3, 30))]
    # At 23:30 UTC it is already the next day in Rome, not yet in UTC.
    assert due_periods(DAY, ROME, date(2026, 3, 29), utc_ms(2026, 3, 29, 23, 30)) == [
        (date(2026, 3, 29), date(2026, 3, 30))
    ]
    assert due_periods(DAY, ZoneInfo("UTC"), date(2026, 3, 29), utc_ms(2026, 3, 29, 23, 30)) == []


def test_due_weeks_and_months_start_from_the_period_of_the_first_date():
    now = utc_ms(2026, 12, 7, 23, 30)  # Tuesday 8 December 00:30 in Rome
    assert due_periods(WEEK, ROME, date(2026, 11, 25), now) == [
        (date(2026, 11, 23), date(2026, 11, 30)),
        (date(2026, 11, 30), date(2026, 12, 7)),
    ]
    assert due_periods(MONTH, ROME, date(2026, 10, 31), now) == [
        (date(2026, 10, 1), date(2026, 11, 1)),
        (date(2026, 11, 1), date(2026, 12, 1)),
    ]
    # The month of October 2026 in Rome ends at 31 October 23:00 UTC (winter time again).
    assert due_periods(MONTH, ROME, date(2026, 10, 1), utc_ms(2026, 10, 31, 23) - 1) == []


def test_a_schedule_far_back_catches_up_400_periods_a_run_oldest_first():
    now = utc_ms(2026, 12, 5, 12)
    first = date(2024, 1, 1)
    periods = due_periods(DAY, ROME, first, now)
    assert len(periods) == 400 and periods[0] == (first, date(2024, 1, 2))
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(periods))
    assert due_periods(DAY, ROME, first, now, limit=3) == periods[:3]
    rest = due_periods(DAY, ROME, periods[-1][1], now)  # the next run goes on from there
    assert periods[-1][1] == rest[0][0] == date(2025, 2, 4) and rest[0][1] == date(2025, 2, 5)
    assert due_periods(DAY, ROME, date(2026, 11, 30), now)[-1] == (date(2026, 12, 4), date(2026, 12, 5))


# --- rows -------------------------------------------------------------------------------------------


def test_times_are_local_with_their_offset_to_the_second():
    assert local_text(None, ROME) == ""
    assert local_text(utc_ms(2026, 12, 4, 0, 0) + 1_999, ROME) == "2026-12-04T01:00:01+01:00"
    assert local_text(utc_ms(2026, 7, 4, 0, 0), ROME) == "2026-07-04T02:00:00+02:00"


def test_text_a_spreadsheet_would_run_as_a_formula_is_quoted():
    for formula in ("=1+1", "+39 06", "-2", "@SUM(A1)"):
        assert safe_text(formula) == "'" + formula
    assert [safe_text(text) for text in ("EX1", "a=b", "", None, 12.5)] == ["EX1", "a=b", "", "", "12.5"]


STARTED = utc_ms(2026, 12, 4, 8)
ENDED = {
    "_id": "a1",
    "machine": "EX1",
    "kind": "after_hours",
    "rule": "builtin:after_hours",
    "start": STARTED,
    "end": STARTED + 36_754_321,  # 612.572 min
    "value": 12.0,
    "detail": "",
    "acked_by": "maria",
}
OPEN = {
    "_id": "b2",
    "machine": "=EX2",
    "kind": "fuel_drain",
    "rule": "rule:7",
    "start": STARTED + HOUR_MS,
    "end": None,
    "value": -15.5,
    "detail": "=1+1",
}


def test_a_row_per_alert_in_the_report_columns_with_local_times_and_minutes():
    ended, still_open = report_rows([ENDED, OPEN], ROME)
    assert tuple(ended) == COLUMNS
    assert ended == {
        "alert_id": "a1",
        "machine": "EX1",
        "kind": "after_hours",
        "rule": "builtin:after_hours",
        "state": "resolved",
        "start": "2026-12-04T09:00:00+01:00",
        "end": "2026-12-04T19:12:34+01:00",
        "duration_min": 612.57,
        "value": 12.0,
        "detail": "",
        "acked_by": "maria",
    }
    assert still_open["state"] == "open" and still_open["end"] == "" and still_open["duration_min"] is None
    assert (still_open["machine"], still_open["detail"], still_open["acked_by"]) == ("=EX2", "=1+1", "")
    # A stored state wins; fields the document lacks or holds empty are empty.
    (sparse,) = report_rows([{**OPEN, "state": "resolved", "detail": None, "acked_by": None, "value": None}], ROME)
    assert (sparse["state"], sparse["detail"], sparse["acked_by"], sparse["value"]) == ("resolved", "", "", None)
    (bare,) = report_rows([{key: OPEN[key] for key in ("_id", "machine", "kind", "rule", "start")}], ROME)
    assert (bare["state"], bare["end"], bare["value"], bare["detail"]) == ("open", "", None, "")


def test_the_csv_has_the_columns_quotes_formulas_and_keeps_numbers_as_numbers():
    text = csv_bytes(report_rows([ENDED, {**OPEN, "machine": "Bagger-Ü =EX2"}, OPEN], ROME)).decode("utf-8")
    assert text.startswith(",".join(COLUMNS) + "\r\n") and text.endswith("\r\n")
    header, ended, umlaut, still_open = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(COLUMNS)
    assert ended == [
        "a1",
        "EX1",
        "after_hours",
        "builtin:after_hours",
        "resolved",
        "2026-12-04T09:00:00+01:00",
        "2026-12-04T19:12:34+01:00",
        "612.57",
        "12.0",
        "",
        "maria",
    ]
    assert umlaut[1] == "Bagger-Ü =EX2"
    assert (still_open[1], still_open[7], still_open[8], still_open[9]) == ("'=EX2", "", "-15.5", "'=1+1")
    assert csv_bytes([]) == (",".join(COLUMNS) + "\r\n").encode()


def read_xlsx(data: bytes):
    sheet = load_workbook(io.BytesIO(data)).active
    return sheet, [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_the_xlsx_types_numbers_as_numbers_and_text_as_text_never_a_formula():
    sheet, table = read_xlsx(xlsx_bytes(report_rows([ENDED, OPEN], ROME), "day 2026-12-04"))
    assert sheet.title == "day 2026-12-04"
    assert table[0] == list(COLUMNS)
    assert table[1] == [
        "a1",
        "EX1",
        "after_hours",
        "builtin:after_hours",
        "resolved",
        "2026-12-04T09:00:00+01:00",
        "2026-12-04T19:12:34+01:00",
        612.57,
        12.0,
        None,  # an empty text cell reads back as empty
        "maria",
    ]
    assert (table[2][1], table[2][7], table[2][8], table[2][9]) == ("=EX2", None, -15.5, "=1+1")
    assert [sheet.cell(3, column).data_type for column in (2, 8, 9, 10)] == ["s", "n", "n", "s"]
    assert [sheet.cell(2, column).data_type for column in (*range(1, 10), 11)] == ["s"] * 7 + ["n", "n", "s"]
    assert len(table) == 3


def test_the_sheet_title_is_cut_to_excels_31_characters_and_never_empty():
    assert read_xlsx(xlsx_bytes([], "month " + "x" * 40))[0].title == "month " + "x" * 25
    sheet, table = read_xlsx(xlsx_bytes([], ""))
    assert sheet.title == "alerts" and table == [list(COLUMNS)]
