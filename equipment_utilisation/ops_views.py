"""The utilisation page: per machine and local day, a bar of engine hours (working, idle or
stationary-running) against the available hours of the shift calendar, drawn as SVG on the server
(no script, no CDN). Staff only, in the admin's look like the other ops pages; one query."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse

from equipment_utilisation.business_calendar import dates_between
from equipment_utilisation.queries import repository
from telemetry_site.ops_views import int_param, render_ops_page

BAR_WIDTH, GAP, CHART_HEIGHT, HOURS_SCALE = 22, 6, 96, 24.0  # a bar of 24 h is CHART_HEIGHT px


def _px(hours: float) -> float:
    return round(min(hours, HOURS_SCALE) / HOURS_SCALE * CHART_HEIGHT, 1)


def day_bar(day: str, x: int, row: dict | None) -> dict:
    """One day's bar: stacked working and idle/stationary hours, and the available hours as a line."""
    if row is None:
        return {"day": day, "x": x, "segments": [], "available_y": None, "title": f"{day}: no data"}
    hours = row["hours"]
    segments, y = [], CHART_HEIGHT
    for state, value in (("working", hours["working"]), ("idle", hours["idle"]), ("stationary", hours["stationary"])):
        height = _px(value)
        if height > 0:
            y -= height
            segments.append({"state": state, "y": round(y, 1), "height": height})
    available = row["available_hours"]
    title = (
        f"{day}: {row['engine_hours']:.2f} engine h of {available:g} available; working {hours['working']:.2f} h, "
        f"idle {hours['idle']:.2f} h, stationary-running {hours['stationary']:.2f} h, off {hours['off']:.2f} h, "
        f"no data {hours['no_data']:.2f} h"
    )
    return {"day": day, "x": x, "segments": segments, "available_y": CHART_HEIGHT - _px(available), "title": title}


@staff_member_required
def utilisation(request: HttpRequest) -> HttpResponse:
    days = int_param(request, "days", 7, minimum=1, maximum=62)
    raw_to = request.GET.get("to")
    try:
        last = date.fromisoformat(raw_to) if raw_to else datetime.now(ZoneInfo(settings.UTILISATION_TIME_ZONE)).date()
    except ValueError:
        raise BadRequest("to must be a date, YYYY-MM-DD") from None
    first = last - timedelta(days=days - 1)
    dates = dates_between(first.isoformat(), last.isoformat())
    by_machine: dict[str, dict[str, dict]] = {}
    for row in repository().rows_between(dates[0], dates[-1]):
        by_machine.setdefault(row["machine"], {})[row["date"]] = row
    machines = []
    for machine, rows in sorted(by_machine.items()):
        latest = rows[max(rows)]
        bars = [day_bar(day, index * (BAR_WIDTH + GAP), rows.get(day)) for index, day in enumerate(dates)]
        engine = sum(row["engine_hours"] for row in rows.values())
        available = sum(row["available_hours"] for row in rows.values())
        machines.append(
            {
                "machine": machine,
                "machine_class": latest["machine_class"],
                "site": latest["site"],
                "engine_hours": engine,
                "available_hours": available,
                "utilisation": None if available <= 0 else round(100 * engine / available, 1),
                "bars": bars,
            }
        )
    return render_ops_page(
        request,
        "admin/ops/utilisation.html",
        "Utilisation",
        machines=machines,
        dates=dates,
        width=len(dates) * (BAR_WIDTH + GAP),
        height=CHART_HEIGHT,
        bar_width=BAR_WIDTH,
        previous=(first - timedelta(days=1)).isoformat(),
        days=days,
    )
