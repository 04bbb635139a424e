"""Statement lines and meter readings as the files rental ERPs import: CSV and XLSX.

CSV cells are text as the lines hold them (amounts as decimal strings, times ISO 8601 with
offset); text a spreadsheet would run as a formula (= + - @ first) is prefixed with ``'``. XLSX
cells are typed: amounts and hours numbers (Decimal), period bounds datetimes (local wall time,
the offset in its own column, since XLSX has no time zones), the rest text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook

COLUMNS = (
    "contract_id",
    "customer_ref",
    "machine",
    "serial",
    "period_start",
    "period_end",
    "hours_start",
    "hours_end",
    "hours_used",
    "allowance",
    "excess_hours",
    "base_amount",
    "excess_rate",
    "excess_amount",
    "amount",
    "currency",
    "data_gap_hours",
    "version",
)
NUMBER_COLUMNS = frozenset(COLUMNS[6:15]) | {"data_gap_hours"}
TEXT_COLUMNS = ("customer_ref", "machine", "serial")
METER_COLUMNS = ("machine", "reading_time", "hours_tot")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def lines_csv(lines: Iterable[dict]) -> bytes:
    def cell(line: dict, column: str) -> object:
        value = line.get(column)
        if column in TEXT_COLUMNS:
            return safe_text(value)
        return "" if value is None else value

    return _csv(COLUMNS, ([cell(line, column) for column in COLUMNS] for line in lines))


def lines_xlsx(lines: Iterable[dict]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "statement lines"
    sheet.append([*COLUMNS, "utc_offset"])
    for line in lines:
        row: list[object] = []
        for column in COLUMNS:
            value = line.get(column)
            if value is None:
                row.append(None)
            elif column in NUMBER_COLUMNS:
                row.append(Decimal(value))
            elif column in ("period_start", "period_end"):
                row.append(datetime.fromisoformat(value).replace(tzinfo=None))
            else:
                row.append(value)
        row.append(datetime.fromisoformat(line["period_start"]).strftime("%z"))
        sheet.append(row)
    for letter in ("E", "F"):
        for cell in sheet[letter][1:]:
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def meter_csv(readings: Iterable[dict]) -> bytes:
    """``readings``: ``{machine, reading_time (ISO 8601), hours_tot}``."""
    return _csv(METER_COLUMNS, ([safe_text(r["machine"]), r["reading_time"], repr(r["hours_tot"])] for r in readings))
