"""The usage ledger's values: readings, references, rates, deltas, entries and their stored documents.

Pure: no Django, pymongo or Kafka; the rules that make these values are ``business_intervals``
(readings to intervals, plausibility), ``business_daily`` (days, cost sources, published records),
``business_late`` (late readings) and ``business_pricing`` (rates and re-pricing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

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


# -- identities and the published record ------------------------------------------------------------


def entry_id(identifier: str, interval_end: int) -> str:
    return f"{identifier}|{interval_end}"
