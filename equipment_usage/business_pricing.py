"""Usage rules: pricing with the registry's rates, and re-pricing when a version arrives after the usage it
prices.

Pure: no Django, pymongo or Kafka; state comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from equipment_usage.business_ledger import UNASSIGNED, DayUsage, Entry, Rates, Reference, SourceUsage, UsageRules, bare


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
