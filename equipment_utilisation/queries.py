"""What the API and the page ask of utilisation: summaries of daily rows, and a machine's timeline
(recomputed from its stored samples, so it is what the row of that day counts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from equipment_utilisation.business import MS_PER_SECOND, day_bounds, neighbours_window, shifted, timeline
from equipment_utilisation.business_calendar import PeriodSummary, summarise
from equipment_utilisation.business_rows import row_id
from equipment_utilisation.config import utilisation_config, utilisation_rules
from equipment_utilisation.repository import UtilisationRepository


def repository() -> UtilisationRepository:
    from telemetry_site.backends import repositories

    return repositories["utilisation"]


def percent(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


def summary_record(summary: PeriodSummary) -> dict[str, Any]:
    """A summary as the API answers it: hours to 4 decimals, shares in percent to 2."""
    return {
        "machine": summary.machine,
        "period_start": summary.period_start,
        "period_end": summary.period_end,
        "machine_class": summary.machine_class,
        "site": summary.site,
        "days": summary.days,
        "days_reported": summary.days_reported,
        "engine_hours": round(summary.engine_hours, 4),
        "available_hours": round(summary.available_hours, 4),
        "utilisation_pct": percent(summary.utilisation),
        "calendar_utilisation_pct": percent(summary.calendar_utilisation),
        "working_hours": round(summary.working_hours, 4),
        "idle_hours": round(summary.idle_hours, 4),
        "stationary_hours": round(summary.stationary_hours, 4),
        "off_hours": round(summary.off_hours, 4),
        "no_data_hours": round(summary.no_data_hours, 4),
        "idle_pct": percent(summary.idle_share),
        "fuel_l": round(summary.fuel_l, 4),
        "fuel_l_per_h": None if summary.fuel_per_hour is None else round(summary.fuel_per_hour, 4),
        "idle_runs_3_6": summary.idle_runs.get("3_6", 0),
        "idle_runs_6_9": summary.idle_runs.get("6_9", 0),
        "idle_runs_over_9": summary.idle_runs.get("over_9", 0),
    }


def utilisation_summaries(
    first: str, last: str, group_by: str, site: str | None = None, machine: str | None = None
) -> list[dict[str, Any]]:
    rows = repository().rows_between(first, last, machine=machine, site=site)
    return [summary_record(summary) for summary in summarise(rows, first, last, group_by, utilisation_config())]


def machine_timeline(machine: str, day: str) -> dict[str, Any] | None:
    """The runs of ``machine`` on local ``day`` (start and end in local time), or None if nothing
    was ever stored for the machine. A day without samples is one no-data run."""
    repo = repository()
    traces = repo.load_traces(row_id(machine, shifted(day, offset)) for offset in (-1, 0, 1))
    if not traces and not repo.machine_exists(machine):
        return None
    config, rules = utilisation_config(), utilisation_rules()
    own = traces.get(row_id(machine, day))
    zone = own["zone"] if own else config.zone(machine, None)
    model = next((document["model"] for document in traces.values() if document.get("model")), None)
    machine_class = config.machine_class(model)

    def samples(offset: int) -> list:
        document = traces.get(row_id(machine, shifted(day, offset)))
        return document["samples"] if document else []

    start, end = day_bounds(day, zone)
    window = neighbours_window(samples(-1), samples(0), samples(1))
    tz = ZoneInfo(zone)

    def local(ms: int) -> str:
        return datetime.fromtimestamp(ms / MS_PER_SECOND, tz).isoformat()

    return {
        "machine": machine,
        "date": day,
        "zone": zone,
        "machine_class": machine_class,
        "runs": [
            {"state": run.state, "start": local(run.start), "end": local(run.end), "hours": round(run.hours, 4)}
            for run in timeline(window, start, end, config.judged_by(machine_class), rules)
        ],
    }
