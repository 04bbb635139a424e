"""Rules of the usage service. Pure: no Django, pymongo or Kafka; state comes in as arguments.

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from stream.records import poi_names, section

MS_PER_HOUR = 3_600_000
UNASSIGNED = "unassigned"

# Outcomes of a reading compared with its machine's reference.
FIRST, DUPLICATE, LATE, NEXT = "first", "duplicate", "late", "next"
TOO_LATE = "too_late"
# Flags of ledger entries that are not part of a machine's chain of readings: ``too_late`` readings,
# and ``late`` ones stored (uncounted, unchained) before late readings were spliced in.
UNCHAINED = (LATE, TOO_LATE)
MS_PER_DAY = 86_400_000

# The values below are frozen dataclasses whose ``__init__`` is written out (``init=False``): the
# generated one of a frozen dataclass sets each field through ``object.__setattr__``, which made
# building an ``Entry`` cost 4 us, and the consumer builds about six such values per reading
# (docs/PERFORMANCE.md). Filling ``__dict__`` directly gives the same object: assignment afterwards
# still raises ``FrozenInstanceError``, and ``==``, ``hash``, ``repr`` and ``replace`` are the
# dataclass's. A test keeps each ``__init__`` in step with the fields.


@dataclass(frozen=True)
class UsageRules:
    """The settings the rules depend on (``USAGE_*``)."""

    time_zone: str = "UTC"
    max_speed_kmh: float = 80.0
    hours_tolerance: float = 0.1  # engine hours a reading may exceed the elapsed hours by
    km_tolerance: float = 0.1  # km a reading may exceed ``max_speed_kmh`` x elapsed hours by
    late_max_age_days: float = 30.0  # a reading older than its reference by more is not spliced in
    reprice_max_age_days: float = 30.0  # a rate change re-prices no interval older than this (from the reference)

    @property
    def late_max_age_ms(self) -> int:
        return round(self.late_max_age_days * MS_PER_DAY)

    @property
    def reprice_max_age_ms(self) -> int:
        return round(self.reprice_max_age_days * MS_PER_DAY)


@dataclass(frozen=True, init=False)
class Reading:
    """The part of a telemetry record the usage rules read."""

    identifier: str
    timestamp: int
    hours: float | None
    km: float | None
    pois: tuple[str, ...] = ()

    def __init__(
        self, identifier: str, timestamp: int, hours: float | None, km: float | None, pois: tuple[str, ...] = ()
    ) -> None:
        self.__dict__.update(identifier=identifier, timestamp=timestamp, hours=hours, km=km, pois=pois)


@dataclass(frozen=True, init=False)
class Reference:
    """A machine's newest processed reading; each counter keeps the event time of its last value,
    so a reading that lacks a counter does not lose that counter's reference."""

    identifier: str
    timestamp: int
    hours: float | None
    hours_at: int | None
    km: float | None
    km_at: int | None
    pois: tuple[str, ...] = ()

    def __init__(
        self,
        identifier: str,
        timestamp: int,
        hours: float | None,
        hours_at: int | None,
        km: float | None,
        km_at: int | None,
        pois: tuple[str, ...] = (),
    ) -> None:
        self.__dict__.update(
            identifier=identifier, timestamp=timestamp, hours=hours, hours_at=hours_at, km=km, km_at=km_at, pois=pois
        )


@dataclass(frozen=True)
class Rates:
    """One version of a machine's registry record."""

    last_update: int
    hourly_rate: float | None = None
    km_rate: float | None = None
    currency: str | None = None


@dataclass(frozen=True, init=False)
class Delta:
    """Usage between a reference and the next reading; None where a counter did not count."""

    elapsed_ms: int
    hours: float | None
    km: float | None
    events: tuple[str, ...] = ()

    def __init__(self, elapsed_ms: int, hours: float | None, km: float | None, events: tuple[str, ...] = ()) -> None:
        self.__dict__.update(elapsed_ms=elapsed_ms, hours=hours, km=km, events=events)


@dataclass(frozen=True, init=False)
class SourceUsage:
    source: str
    share: float
    hours: float | None
    km: float | None
    cost: float | None

    def __init__(self, source: str, share: float, hours: float | None, km: float | None, cost: float | None) -> None:
        self.__dict__.update(source=source, share=share, hours=hours, km=km, cost=cost)


@dataclass(frozen=True, init=False)
class DayUsage:
    """The part of an interval that falls on one local day."""

    date: str
    start: int
    end: int
    hours: float | None
    km: float | None
    cost: float | None
    sources: tuple[SourceUsage, ...]

    def __init__(
        self,
        date: str,
        start: int,
        end: int,
        hours: float | None,
        km: float | None,
        cost: float | None,
        sources: tuple[SourceUsage, ...],
    ) -> None:
        self.__dict__.update(date=date, start=start, end=end, hours=hours, km=km, cost=cost, sources=sources)


@dataclass(frozen=True, init=False)
class Entry:
    """What one reading adds to a machine's usage ledger, keyed by (identifier, interval end).

    A counted entry has ``start`` (the reference), ``end`` (the reading) and its usage by day and
    cost source. Entries that count nothing (first reading, late reading, a reset or implausible
    jump on every counter present) are kept too, with their flags, so the ledger explains itself
    and a later correction pass can split an interval at a late reading.
    """

    identifier: str
    start: Reference | None
    end: Reading
    hours: float | None
    km: float | None
    flags: tuple[str, ...]
    days: tuple[DayUsage, ...] = ()
    currency: str | None = None
    priced: bool = False
    # Set on a stored entry that a late reading's correction replaced: the version it replaced (whose
    # records are retracted) and the event time of the late reading, so a replay can republish both.
    replaced: Entry | None = None
    corrected_by: int | None = None
    # The registry version that priced it (None: unpriced, or stored before this field existed), and,
    # on an entry a rate change re-priced, that version's key, so a replay of it can republish.
    rates: Rates | None = None
    repriced_by: str | None = None

    def __init__(
        self,
        identifier: str,
        start: Reference | None,
        end: Reading,
        hours: float | None,
        km: float | None,
        flags: tuple[str, ...],
        days: tuple[DayUsage, ...] = (),
        currency: str | None = None,
        priced: bool = False,
        replaced: Entry | None = None,
        corrected_by: int | None = None,
        rates: Rates | None = None,
        repriced_by: str | None = None,
    ) -> None:
        self.__dict__.update(
            identifier=identifier,
            start=start,
            end=end,
            hours=hours,
            km=km,
            flags=flags,
            days=days,
            currency=currency,
            priced=priced,
            replaced=replaced,
            corrected_by=corrected_by,
            rates=rates,
            repriced_by=repriced_by,
        )

    @property
    def id(self) -> str:
        return entry_id(self.identifier, self.end.timestamp)

    @property
    def chained(self) -> bool:
        """Part of the machine's chain of readings (not a too-late reading)."""
        return not any(flag in UNCHAINED for flag in self.flags)

    def same_usage(self, other: Entry) -> bool:
        """Equal apart from the correction bookkeeping (``replaced``, ``corrected_by``, ``repriced_by``)."""
        return bare(self) == bare(other)

    @property
    def counted(self) -> bool:
        return self.hours is not None or self.km is not None

    @property
    def dates(self) -> list[str]:
        return [day.date for day in self.days]

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "interval_start": None if self.start is None else self.start.timestamp,
            "interval_end": self.end.timestamp,
            "start": None if self.start is None else reference_document(self.start),
            "end": reading_document(self.end),
            "hours": self.hours,
            "km": self.km,
            "flags": list(self.flags),
            "counted": self.counted,
            "dates": self.dates,
            "days": [day_document(day) for day in self.days],
            "currency": self.currency,
            "priced": self.priced,
            "replaced": None if self.replaced is None else self.replaced.to_dict(),
            "corrected_by": self.corrected_by,
            "rates": None if self.rates is None else rates_document(self.rates),
            "repriced_by": self.repriced_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        start = data.get("start")
        return cls(
            identifier=data["identifier"],
            start=None if start is None else Reference(**{**start, "pois": tuple(start.get("pois") or ())}),
            end=Reading(**{**data["end"], "pois": tuple(data["end"].get("pois") or ())}),
            hours=data.get("hours"),
            km=data.get("km"),
            flags=tuple(data.get("flags") or ()),
            days=tuple(
                DayUsage(**{**day, "sources": tuple(SourceUsage(**source) for source in day["sources"])})
                for day in data.get("days") or ()
            ),
            currency=data.get("currency"),
            priced=bool(data.get("priced")),
            replaced=None if data.get("replaced") is None else Entry.from_dict(data["replaced"]),
            corrected_by=data.get("corrected_by"),
            rates=None if data.get("rates") is None else Rates(**data["rates"]),
            repriced_by=data.get("repriced_by"),
        )


def bare(entry: Entry) -> Entry:
    """``entry`` without its correction bookkeeping: what a later correction keeps as ``replaced``."""
    return replace(entry, replaced=None, corrected_by=None, repriced_by=None)


# -- stored shapes ----------------------------------------------------------------------------------
# What ``dataclasses.asdict`` gives for these values, built by hand: ``asdict`` walks every field
# recursively through ``copy.deepcopy``, and it was most of the usage consumer's time (profiled in
# docs/PERFORMANCE.md). The values are frozen and hold only numbers, strings and tuples, so nothing
# needs copying; tuples stay tuples, as with ``asdict``.


def reading_document(reading: Reading) -> dict[str, Any]:
    """``asdict(reading)``: the stored ``end`` of a ledger entry."""
    return {
        "identifier": reading.identifier,
        "timestamp": reading.timestamp,
        "hours": reading.hours,
        "km": reading.km,
        "pois": reading.pois,
    }


def reference_document(reference: Reference) -> dict[str, Any]:
    """``asdict(reference)``: the stored ``start`` of a ledger entry."""
    return {
        "identifier": reference.identifier,
        "timestamp": reference.timestamp,
        "hours": reference.hours,
        "hours_at": reference.hours_at,
        "km": reference.km,
        "km_at": reference.km_at,
        "pois": reference.pois,
    }


def rates_document(rates: Rates) -> dict[str, Any]:
    """``asdict(rates)``: the stored ``rates`` of a priced ledger entry."""
    return {
        "last_update": rates.last_update,
        "hourly_rate": rates.hourly_rate,
        "km_rate": rates.km_rate,
        "currency": rates.currency,
    }


def day_document(day: DayUsage) -> dict[str, Any]:
    """``asdict(day)``: one of the stored ``days`` of a ledger entry, its sources a tuple of dicts."""
    return {
        "date": day.date,
        "start": day.start,
        "end": day.end,
        "hours": day.hours,
        "km": day.km,
        "cost": day.cost,
        "sources": tuple(
            [
                {"source": part.source, "share": part.share, "hours": part.hours, "km": part.km, "cost": part.cost}
                for part in day.sources
            ]
        ),
    }


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


# -- days, cost sources, prices ---------------------------------------------------------------------


def timestamp_to_date(timestamp_ms: int, time_zone: str = "UTC") -> str:
    """The local date (YYYY-MM-DD) of an instant in ``time_zone``."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=ZoneInfo(time_zone)).date().isoformat()


def local_midnight_ms(day: date, time_zone: str) -> int:
    """The instant (epoch ms) local midnight starts ``day`` in ``time_zone``."""
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone))
    return round(midnight.astimezone(UTC).timestamp() * 1000)


def split_by_day(start_ms: int, end_ms: int, time_zone: str = "UTC") -> list[tuple[str, int, int]]:
    """``(date, start, end)`` pieces of ``[start_ms, end_ms]`` cut at local midnights.

    An interval ending exactly at midnight belongs wholly to the day before; pieces are never
    empty, except for an empty interval, which is one empty piece on its day.
    """
    if end_ms <= start_ms:
        return [(timestamp_to_date(start_ms, time_zone), start_ms, end_ms)]
    pieces = []
    cursor = start_ms
    zone = ZoneInfo(time_zone)
    while cursor < end_ms:
        name, next_midnight = _local_day(datetime.fromtimestamp(cursor / 1000, tz=zone).date(), time_zone)
        boundary = min(end_ms, next_midnight)
        pieces.append((name, cursor, boundary))
        cursor = boundary
    return pieces


def local_day_bounds(day: date, time_zone: str) -> tuple[str, int]:
    """``day`` as YYYY-MM-DD and the instant its next local midnight starts."""
    return day.isoformat(), local_midnight_ms(day + timedelta(days=1), time_zone)


# Cached: a batch's intervals fall on a few days, and the time-zone arithmetic was a fifth of
# ``allocate``. Wrapped here rather than decorated so that the function itself stays plain (and
# mutation testing still reaches it: mutmut leaves decorated functions alone).
_local_day = lru_cache(maxsize=4096)(local_day_bounds)


def get_cost_sources(pois: Sequence[str]) -> list[tuple[str, float]]:
    """Equal shares of the points of interest (duplicates counted once); none: all "unassigned"."""
    names = list(dict.fromkeys(pois))
    if not names:
        return [(UNASSIGNED, 1.0)]
    return [(name, 1.0 / len(names)) for name in names]


def rates_at(versions: Iterable[Rates], at: int) -> Rates | None:
    """The registry version in effect at ``at``: the newest whose ``last_update <= at``."""
    best: Rates | None = None
    for version in versions:
        if version.last_update <= at and (best is None or version.last_update > best.last_update):
            best = version
    return best


def price(hours: float | None, km: float | None, rates: Rates | None) -> float | None:
    """hours x hourly rate + km x per-km rate; None without rates, or when a counter that was used
    has no rate (a partial price would look complete)."""
    if rates is None:
        return None
    cost = 0.0
    for amount, rate in ((hours, rates.hourly_rate), (km, rates.km_rate)):
        if amount is None or amount == 0:
            continue
        if rate is None:
            return None
        cost += amount * rate
    return cost


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def allocate(
    delta: Delta,
    start_ms: int,
    end_ms: int,
    pois: Sequence[str],
    rates: Rates | None,
    time_zone: str = "UTC",
) -> tuple[DayUsage, ...]:
    """Split a delta across local days (in proportion to time), then across cost sources (equal
    shares), pricing each part."""
    sources = get_cost_sources(pois)
    days = []
    span = end_ms - start_ms
    for day, piece_start, piece_end in split_by_day(start_ms, end_ms, time_zone):
        fraction = (piece_end - piece_start) / span if span > 0 else 1.0
        hours, km = _scaled(delta.hours, fraction), _scaled(delta.km, fraction)
        parts = []
        for source, share in sources:
            part_hours, part_km = _scaled(hours, share), _scaled(km, share)
            parts.append(SourceUsage(source, share, part_hours, part_km, price(part_hours, part_km, rates)))
        days.append(DayUsage(day, piece_start, piece_end, hours, km, price(hours, km, rates), tuple(parts)))
    return tuple(days)


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


def in_event_order(readings: Iterable[Reading]) -> list[Reading]:
    """Distinct readings by event time, oldest first; of two with one event time the first wins."""
    distinct: dict[int, Reading] = {}
    for reading in readings:
        distinct.setdefault(reading.timestamp, reading)
    return [distinct[timestamp] for timestamp in sorted(distinct)]


def reference_after(entry: Entry) -> Reference:
    """The machine's reference once ``entry``'s reading is processed."""
    return advance_reference(entry.start, entry.end)


def is_too_late(reference: Reference, reading: Reading, rules: UsageRules) -> bool:
    """Older than its machine's reference by more than ``late_max_age_days``: not spliced in."""
    return reading.timestamp < reference.timestamp - rules.late_max_age_ms


def too_late_entry(reading: Reading) -> Entry:
    """A reading too old to correct the ledger with: kept, counted nowhere, flagged."""
    return Entry(reading.identifier, None, reading, None, None, (TOO_LATE,))


def splice_late(
    spanning: Entry, late: Iterable[Reading], rules: UsageRules, rate_versions: Sequence[Rates] = ()
) -> list[Entry]:
    """Place late readings into the stored interval that spans them.

    ``spanning`` is the stored entry P -> S (its ``start`` is the reference after P), or the
    machine's first entry S when the readings are older than every stored one (no start). Each late
    reading must lie strictly inside: after P, before S. Returns the entries of the late readings,
    oldest first, and last the new entry of S (from the newest late reading), all computed with the
    same rules as any entry. The stored P -> S entry is what the last one replaces.
    """
    readings = in_event_order(late)
    if not readings:
        raise ValueError("no late readings to splice")
    oldest, newest = readings[0].timestamp, readings[-1].timestamp
    if (spanning.start is not None and oldest <= spanning.start.timestamp) or newest >= spanning.end.timestamp:
        raise ValueError("late readings must lie strictly inside the spanning interval")
    return apply_readings(spanning.start, [*readings, spanning.end], rules, rate_versions).entries


def repropagate(
    reference: Reference, following: Sequence[Entry], rules: UsageRules, rate_versions: Sequence[Rates] = ()
) -> tuple[list[Entry], Reference, bool]:
    """Carry a corrected reference forward through the stored entries that follow it.

    A reading that lacks a counter keeps the previous reference's value for it, so correcting one
    entry can change the start of the next ones until a reading that has the counter again. Walks
    ``following`` (oldest first, the first one right after ``reference``) and recomputes each entry
    whose start differs. Returns the recomputed entries, the reference after the last one walked,
    and whether the walk met an entry whose start already agrees (nothing further changes).
    """
    changed: list[Entry] = []
    for stored in following:
        if stored.start == reference:
            return changed, reference, True
        changed.append(entry_for(reference, stored.end, rules, rate_versions))
        reference = advance_reference(reference, stored.end)
    return changed, reference, False


# -- re-pricing: a registry version that arrives after the usage it prices -------------------------


def version_key(identifier: str, last_update: int) -> str:
    """A registry version's key (its document ``_id``), what a re-priced entry names as ``repriced_by``."""
    return f"{identifier}|{last_update}"


def governed_range(versions: Iterable[Rates], last_update: int) -> tuple[int, int | None]:
    """The interval starts that the version of ``last_update`` prices among ``versions`` (see
    ``rates_at``): from its ``last_update``, inclusive, to the next newer version's, exclusive
    (None: no newer version, the range is open)."""
    later = [version.last_update for version in versions if version.last_update > last_update]
    return last_update, min(later) if later else None


@dataclass(frozen=True)
class RepricingScope:
    """The stored intervals one registry version re-prices: those whose start is in ``[start, end)``
    (``end`` None: no bound). ``refused_before`` is set when the version governs intervals older than
    the re-pricing horizon too: those keep their price (the change is stored and reported)."""

    identifier: str
    last_update: int
    start: int
    end: int | None
    refused_before: int | None = None

    @property
    def key(self) -> str:
        return version_key(self.identifier, self.last_update)

    @property
    def empty(self) -> bool:
        return self.end is not None and self.start >= self.end

    def covers(self, at: int) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


def repricing_horizon(reference: Reference, rules: UsageRules) -> int:
    """The oldest interval start a rate change may re-price: ``reprice_max_age_days`` before the
    machine's newest reading (event time, like the late-reading horizon, so a replay decides alike)."""
    return reference.timestamp - rules.reprice_max_age_ms


def repricing_scope(identifier: str, versions: Iterable[Rates], last_update: int, horizon: int) -> RepricingScope:
    """What the version of ``last_update`` re-prices among the stored ``versions`` (which include it):
    the range it governs, cut at ``horizon``."""
    start, end = governed_range(versions, last_update)
    if start >= horizon:
        return RepricingScope(identifier, last_update, start, end)
    return RepricingScope(identifier, last_update, horizon, end, refused_before=horizon)


def reprice(entry: Entry, rates: Rates | None) -> Entry:
    """``entry`` priced with ``rates``: the same days and shares (a price never moves usage between
    days or sites), each day and part priced as ``allocate`` prices it."""
    if not entry.counted:
        return entry
    days = tuple(
        DayUsage(
            day.date,
            day.start,
            day.end,
            day.hours,
            day.km,
            price(day.hours, day.km, rates),
            tuple(
                SourceUsage(part.source, part.share, part.hours, part.km, price(part.hours, part.km, rates))
                for part in day.sources
            ),
        )
        for day in entry.days
    )
    currency = None if rates is None else rates.currency
    return replace(entry, days=days, currency=currency, priced=all(day.cost is not None for day in days), rates=rates)


def repriced(stored: Entry, rates: Rates | None, cause: str | None) -> Entry | None:
    """The new version of ``stored`` when ``rates`` change its price, else None (same costs and
    currency: nothing to write or publish, so a replayed registry record changes nothing).

    The new version retracts ``stored`` (same record ids: the retraction carries the old amounts)
    and keeps, one level down, the version a late reading replaced before, whose records have other
    ids: if that correction's records were not published yet (a crash), its replay still retracts them.
    """
    new = reprice(stored, rates)
    if (new.days, new.currency, new.priced) == (stored.days, stored.currency, stored.priced):
        return None
    earlier = stored.replaced
    if earlier is not None and earlier.start == stored.start:  # an earlier re-pricing: same record ids
        earlier = earlier.replaced
    retracted = replace(bare(stored), replaced=None if earlier is None else bare(earlier))
    return replace(new, replaced=retracted, repriced_by=cause)


# -- identities and the published record ------------------------------------------------------------


def entry_id(identifier: str, interval_end: int) -> str:
    return f"{identifier}|{interval_end}"


def record_id(identifier: str, start: Reference, interval_end: int, day: str) -> str:
    """Deterministic id of a published usage record: the same delta and day always give the same id.

    It names the interval's both ends and the times the start's counters were read (they differ from
    the start's own time after a reading without that counter), so a corrected delta never reuses
    the id of the version it replaces.
    """
    key = f"{identifier}|{start.timestamp}|{start.hours_at}|{start.km_at}|{interval_end}|{day}"
    return hashlib.sha1(key.encode()).hexdigest()


def usage_records(entry: Entry, retracted: bool = False) -> list[dict[str, Any]]:
    """The ``c40.usage.UsageDelta`` records of a counted entry, one per local day it touches; with
    ``retracted``, the same records flagged as no longer counting. An entry that counts nothing
    has no days (see ``entry_for``), so it has no records."""
    return [
        {
            "record_id": record_id(entry.identifier, entry.start, entry.end.timestamp, day.date),
            "identifier": entry.identifier,
            "interval_start": day.start,
            "interval_end": day.end,
            "date": day.date,
            "delta_hours": day.hours,
            "delta_km": day.km,
            "currency": entry.currency,
            "cost_sources": [
                {"source": s.source, "share": s.share, "hours": s.hours, "km": s.km, "cost": s.cost}
                for s in day.sources
            ],
            "retracted": retracted,
        }
        for day in entry.days
    ]


def correction_records(entry: Entry) -> list[dict[str, Any]]:
    """What publishing ``entry`` sends: the retractions of the versions it replaced, if any (a
    re-priced entry can hold two, see ``repriced``), oldest first, then its own records (same key,
    so the same partition and this order)."""
    retractions: list[dict[str, Any]] = []
    version = entry.replaced
    while version is not None:
        retractions = usage_records(version, retracted=True) + retractions
        version = version.replaced
    return retractions + usage_records(entry)
