"""Rules of the usage service: readings to intervals, and their plausibility.

Pure: no Django, pymongo or Kafka; state comes in as arguments.

A machine's cumulative counters (engine hours, km) become usage between consecutive readings:

- readings are taken in the order they arrive for a machine (Kafka keeps it per key) and compared
  by event time with the machine's *reference*, the newest reading processed so far;
- no delta for the first reading or a duplicate (same event time); a late reading (older than the
  reference) is spliced into the stored interval that spans it (``splice_late``), which is replaced
  by two; one older than ``late_max_age_days`` is kept, flagged ``too_late``, and counts nothing;
- each counter is judged on its own: missing (no delta for it, its reference stays), reset (went
  backwards: no delta, the new value becomes the reference), implausible (faster than the clock
  for hours, than ``max_speed_kmh`` for km: no delta, the value still becomes the reference);
- a counted interval is charged in equal shares to the points of interest the machine was in at
  its start ("unassigned" when none), split across local days in proportion to time, and priced
  with the registry rates in effect at its start.

The values are ``business_ledger``'s; days and records ``business_daily``'s; late readings
``business_late``'s; prices ``business_pricing``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from equipment_usage.business_daily import allocate
from equipment_usage.business_ledger import (
    DUPLICATE,
    FIRST,
    LATE,
    MS_PER_HOUR,
    NEXT,
    Delta,
    Entry,
    Rates,
    Reading,
    Reference,
    UsageRules,
)
from equipment_usage.business_pricing import rates_at
from stream.records import poi_names, section

# -- reading records -------------------------------------------------------------------------------


def extract_poi_list(record: dict) -> list[str]:
    """The names of the points of interest in ``record``, in order, without duplicates."""
    return poi_names(record)


def reading_from_record(record: dict) -> Reading:
    odometry = section(section(record, "c40"), "odometry")  # looked up once for both counters
    return Reading(
        identifier=record["identifier"],
        timestamp=record["timestamp"],
        hours=odometry.get("hours_tot"),
        km=odometry.get("km_tot"),
        pois=tuple(extract_poi_list(record)),
    )


# -- ordering ---------------------------------------------------------------------------------------


def classify_reading(reference: Reference | None, reading: Reading) -> str:
    """FIRST (no reference), DUPLICATE (same event time), LATE (older) or NEXT (newer)."""
    if reference is None:
        return FIRST
    if reading.timestamp == reference.timestamp:
        return DUPLICATE
    if reading.timestamp < reference.timestamp:
        return LATE
    return NEXT


def should_compute_delta(reference: Reference | None, reading: Reading) -> bool:
    """A delta exists only between a reference and a strictly newer reading."""
    return classify_reading(reference, reading) == NEXT


def advance_reference(reference: Reference | None, reading: Reading) -> Reference:
    """The reference after ``reading``: its time and points of interest, its counters where it has
    them (a reset or implausible value included), the old counters where it has none."""
    hours, hours_at = reading.hours, reading.timestamp
    km, km_at = reading.km, reading.timestamp
    if reference is not None:
        if hours is None:
            hours, hours_at = reference.hours, reference.hours_at
        if km is None:
            km, km_at = reference.km, reference.km_at
    return Reference(
        identifier=reading.identifier,
        timestamp=reading.timestamp,
        hours=hours,
        hours_at=None if hours is None else hours_at,
        km=km,
        km_at=None if km is None else km_at,
        pois=reading.pois,
    )


# -- deltas -----------------------------------------------------------------------------------------


def counter_delta(
    name: str,
    previous: float | None,
    previous_at: int | None,
    value: float | None,
    at: int,
    per_hour_limit: float,
    tolerance: float,
) -> tuple[float | None, str | None]:
    """The increase of one counter and the event that prevented it, if any.

    Plausible means ``increase <= per_hour_limit * elapsed hours + tolerance`` (inclusive), where
    the elapsed time runs from the counter's own last value.
    """
    if value is None:
        return None, f"{name}_missing"
    if previous is None or previous_at is None:
        return None, f"{name}_first"
    increase = value - previous
    if increase < 0:
        return None, f"{name}_reset"
    elapsed_hours = (at - previous_at) / MS_PER_HOUR
    if increase > per_hour_limit * elapsed_hours + tolerance:
        return None, f"{name}_implausible"
    return increase, None


def compute_delta(reference: Reference, reading: Reading, rules: UsageRules) -> Delta:
    """Usage from ``reference`` to ``reading`` (which must be newer), counter by counter."""
    hours, hours_event = counter_delta(
        "hours", reference.hours, reference.hours_at, reading.hours, reading.timestamp, 1.0, rules.hours_tolerance
    )
    km, km_event = counter_delta(
        "km", reference.km, reference.km_at, reading.km, reading.timestamp, rules.max_speed_kmh, rules.km_tolerance
    )
    events = tuple(event for event in (hours_event, km_event) if event is not None)
    return Delta(reading.timestamp - reference.timestamp, hours, km, events)


# -- a machine's readings, in order -----------------------------------------------------------------


@dataclass
class MachineResult:
    """Entries a machine's readings produced, its new reference, and readings already behind it."""

    reference: Reference | None
    entries: list[Entry] = field(default_factory=list)
    behind: list[Reading] = field(default_factory=list)  # duplicates and late readings


def entry_for(
    start: Reference | None, reading: Reading, rules: UsageRules, rate_versions: Sequence[Rates] = ()
) -> Entry:
    """The ledger entry of ``reading`` after ``start`` (the reference just before it in event time):
    the first reading of the machine (no start), or the delta from ``start`` with its days, cost
    sources and price."""
    if start is None:
        return Entry(reading.identifier, None, reading, None, None, (FIRST,))
    delta = compute_delta(start, reading, rules)
    if delta.hours is None and delta.km is None:
        return Entry(reading.identifier, start, reading, None, None, delta.events)
    rates = rates_at(rate_versions, start.timestamp)
    days = allocate(delta, start.timestamp, reading.timestamp, start.pois, rates, rules.time_zone)
    return Entry(
        reading.identifier,
        start,
        reading,
        delta.hours,
        delta.km,
        delta.events,
        days,
        None if rates is None else rates.currency,
        all(day.cost is not None for day in days),
        rates=rates,
    )


def apply_readings(
    reference: Reference | None,
    readings: Iterable[Reading],
    rules: UsageRules,
    rate_versions: Sequence[Rates] = (),
) -> MachineResult:
    """Run one machine's readings, in the order given, against its reference.

    Readings at or before the running reference are returned in ``behind``: the caller knows
    whether the ledger already has them (a replay) or not (a late reading, see ``splice_late``).
    """
    result = MachineResult(reference)
    for reading in readings:
        if classify_reading(result.reference, reading) in (DUPLICATE, LATE):
            result.behind.append(reading)
            continue
        result.entries.append(entry_for(result.reference, reading, rules, rate_versions))
        result.reference = advance_reference(result.reference, reading)
    return result
