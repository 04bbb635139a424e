"""Daily utilisation rows: a machine's local day as the consumer stores and publishes it, and the
full recompute from every sample that the incremental consumer must always equal.

Pure. Samples are kept per (machine, local date), the date in the zone of the sample's site (the
machine's home zone off site); a day's row reads its own samples and the last one of the day before
and the first of the day after (``business.neighbours_window``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from equipment_utilisation.business import (
    IDLE,
    NO_DATA,
    OFF,
    STATIONARY,
    WORKING,
    Sample,
    UtilisationRules,
    day_bounds,
    day_figures,
    local_date,
    neighbours_window,
    shifted,
)
from equipment_utilisation.business_calendar import UtilisationConfig

# The figures of a row that make its version: a recomputed row equal in these is no new version.
ROW_FIGURES = ("site", "machine_class", "zone", "engine_hours", "available_hours", "fuel_l", "hours", "idle_runs")
DECIMALS = 6  # rows are rounded so that the same samples give the same row whatever the order


def row_id(machine: str, day: str) -> str:
    return f"{machine}|{day}"


def kafka_key(row: Mapping[str, Any]) -> str:
    """The topic's key: machine|site|local date."""
    return f"{row['machine']}|{row['site']}|{row['date']}"


def sample_date(machine: str, sample: Sample, config: UtilisationConfig) -> tuple[str, str]:
    """The local date of a sample and the zone it is taken in."""
    zone = config.zone(machine, sample.site)
    return local_date(sample.t, zone), zone


def day_row(
    machine: str,
    day: str,
    zone: str,
    model: str | None,
    window: Sequence[Sample],
    config: UtilisationConfig,
    rules: UtilisationRules,
) -> dict[str, Any]:
    """The row of ``machine`` on local ``day`` from its ``window`` (the day's samples and neighbours)."""
    machine_class = config.machine_class(model)
    start, end = day_bounds(day, zone)
    figures = day_figures(window, start, end, config.judged_by(machine_class), rules)
    return {
        "_id": row_id(machine, day),
        "machine": machine,
        "date": day,
        "site": figures.site,
        "machine_class": machine_class,
        "zone": zone,
        "engine_hours": round(figures.engine_hours, DECIMALS),
        "available_hours": config.available_hours(figures.site, machine_class, day),
        "fuel_l": round(figures.fuel_l, DECIMALS),
        "hours": {
            "working": round(figures.hours[WORKING], DECIMALS),
            "idle": round(figures.hours[IDLE], DECIMALS),
            "stationary": round(figures.hours[STATIONARY], DECIMALS),
            "off": round(figures.hours[OFF], DECIMALS),
            "no_data": round(figures.hours[NO_DATA], DECIMALS),
        },
        "idle_runs": figures.idle_runs,
        "samples": figures.samples,
    }


def same_figures(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    return a is not None and all(a.get(name) == b.get(name) for name in ROW_FIGURES)


def rows_for_days(
    machine: str,
    model: str | None,
    traces: Mapping[str, tuple[str, Sequence[Sample]]],
    days: Iterable[str],
    config: UtilisationConfig,
    rules: UtilisationRules,
) -> list[dict[str, Any]]:
    """The rows of ``days`` (those with samples) from ``traces``: local date -> (zone, samples in order),
    which must hold the day before and after each of them where there are samples."""
    rows = []
    for day in sorted(set(days)):
        if day not in traces or not traces[day][1]:
            continue
        zone, samples = traces[day]
        window = neighbours_window(_samples_of(traces, shifted(day, -1)), samples, _samples_of(traces, shifted(day, 1)))
        rows.append(day_row(machine, day, zone, model, window, config, rules))
    return rows


def _samples_of(traces: Mapping[str, tuple[str, Sequence[Sample]]], day: str) -> Sequence[Sample]:
    return traces[day][1] if day in traces else []


def group_by_date(
    machine: str, samples: Iterable[Sample], config: UtilisationConfig
) -> dict[str, tuple[str, list[Sample]]]:
    """Samples into local dates, in event-time order, each date with the zone of its earliest sample;
    one sample per event time (the first one wins, as in ``business.merge_samples``)."""
    traces: dict[str, dict[int, tuple[Sample, str]]] = {}
    for sample in samples:
        day, zone = sample_date(machine, sample, config)
        traces.setdefault(day, {}).setdefault(sample.t, (sample, zone))
    grouped = {}
    for day, by_time in traces.items():
        ordered = [by_time[t] for t in sorted(by_time)]
        grouped[day] = (ordered[0][1], [sample for sample, _ in ordered])
    return grouped


def recompute_rows(
    machine: str, model: str | None, samples: Iterable[Sample], config: UtilisationConfig, rules: UtilisationRules
) -> list[dict[str, Any]]:
    """Every row of a machine from all its samples at once, in any order: the reference the
    consumer's incremental rows must equal."""
    traces = group_by_date(machine, samples, config)
    return rows_for_days(machine, model, traces, traces, config, rules)


def topic_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as the topic's value (``stream/schemas/utilisation_day.avsc``)."""
    hours = row["hours"]
    available = row["available_hours"]
    return {
        "machine": row["machine"],
        "date": row["date"],
        "site": row["site"],
        "zone": row["zone"],
        "machine_class": row["machine_class"],
        "version": row["version"],
        "engine_hours": row["engine_hours"],
        "available_hours": available,
        "utilisation": row["engine_hours"] / available if available > 0 else None,
        "working_hours": hours["working"],
        "idle_hours": hours["idle"],
        "stationary_hours": hours["stationary"],
        "off_hours": hours["off"],
        "no_data_hours": hours["no_data"],
        "fuel_l": row["fuel_l"],
        "idle_runs_3_6": row["idle_runs"]["3_6"],
        "idle_runs_6_9": row["idle_runs"]["6_9"],
        "idle_runs_over_9": row["idle_runs"]["over_9"],
    }


def next_version(stored: Mapping[str, Any] | None, computed: dict[str, Any]) -> dict[str, Any] | None:
    """``computed`` as the stored row's next version, or None when its figures did not change (a
    replay). A stored row is a published one (the consumer stores a row once the topic has it), so a
    changed site retracts the stored row's key (``retracted_sites``: a tombstone goes out first)."""
    if same_figures(stored, computed):
        return None
    moved = stored is not None and stored["site"] != computed["site"]
    return {
        **computed,
        "version": 1 if stored is None else stored["version"] + 1,
        "retracted_sites": [stored["site"]] if moved else [],
    }
