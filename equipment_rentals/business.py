"""The money of rental statements (pure: stdlib only, Decimal, state passed as arguments).

Rules (docs/RENTALS.md):
- a period's allowance = allowance hours x shift multiplier x the period's fraction (0.01 h,
  half-even); its base amount = base rate x fraction;
- excess rate = base rate / (allowance hours x shift multiplier) x overtime factor, kept exact
  (shown to 4 places); an excess amount = excess hours x that exact rate;
- per period: excess hours = max(0, used - allowance) in each period; pooled: the contract's hours
  against the sum of its allowances, settled on the line of the contract's last period (off-rent
  reached), the other lines carrying no excess;
- every money amount is rounded half-even to 2 places on its line; totals are sums of lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from equipment_rentals.business_periods import Period, PeriodHours

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
ZERO = Decimal(0)
# Fields of a line that a new version's delta lines carry the change of.
DELTA_FIELDS = ("hours_used", "allowance", "excess_hours", "base_amount", "excess_amount", "amount", "data_gap_hours")


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def hours(value: float | Decimal) -> Decimal:
    """Hours to 0.01 h, half-even (floats from the ledger go through their shortest repr)."""
    return Decimal(repr(value) if isinstance(value, float) else value).quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Terms:
    base_rate: Decimal
    allowance_hours: Decimal
    overtime_factor: Decimal = Decimal(1)
    shift_multiplier: int = 1
    pooled: bool = False

    @property
    def full_allowance(self) -> Decimal:
        return self.allowance_hours * self.shift_multiplier

    @property
    def excess_rate(self) -> Decimal:
        """Exact (not rounded): a rounded rate would drift from the issue's amounts (13 h x 34.09
        = 443.17, but 13 h x 6,000/176 = 443.18)."""
        return self.base_rate / self.full_allowance * self.overtime_factor


@dataclass(frozen=True)
class Line:
    period_index: int
    period_start: str  # local ISO 8601 with offset
    period_end: str
    hours_start: Decimal | None
    hours_end: Decimal | None
    hours_used: Decimal
    allowance: Decimal
    excess_hours: Decimal
    base_amount: Decimal
    excess_rate: Decimal
    excess_amount: Decimal
    amount: Decimal
    data_gap_hours: Decimal


@dataclass(frozen=True)
class Statement:
    lines: tuple[Line, ...]
    base_total: Decimal
    excess_total: Decimal
    total: Decimal
    hours_used: Decimal
    excess_hours: Decimal
    data_gap_hours: Decimal


def _meter(value: float | None) -> Decimal | None:
    return None if value is None else hours(value)


def statement(terms: Terms, periods: Sequence[Period], usage: Sequence[PeriodHours], settled: bool) -> Statement:
    """The statement's lines, one per period. ``settled``: the contract's last period is in
    ``periods`` (off-rent reached), where a pooled contract's excess is charged."""
    if len(periods) != len(usage):
        raise ValueError("one PeriodHours per period")
    rate = terms.excess_rate
    allowances = [hours(terms.full_allowance * period.fraction) for period in periods]
    used = [hours(u.used) for u in usage]
    if terms.pooled:
        excess = [ZERO] * len(periods)
        if settled and periods:
            excess[-1] = max(ZERO, sum(used) - sum(allowances))  # not empty: no start value needed
    else:
        excess = [max(ZERO, u - a) for u, a in zip(used, allowances, strict=True)]
    lines = []
    for period, u, allowance, period_used, excess_hours in zip(periods, usage, allowances, used, excess, strict=True):
        base_amount = money(terms.base_rate * period.fraction)
        excess_amount = money(excess_hours * rate)
        lines.append(
            Line(
                period_index=period.index,
                period_start=period.start.isoformat(),
                period_end=period.end.isoformat(),
                hours_start=_meter(u.meter_start),
                hours_end=_meter(u.meter_end),
                hours_used=period_used,
                allowance=allowance,
                excess_hours=excess_hours,
                base_amount=base_amount,
                excess_rate=rate.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN),
                excess_amount=excess_amount,
                amount=base_amount + excess_amount,
                data_gap_hours=hours(u.gap_hours),
            )
        )
    return Statement(
        lines=tuple(lines),
        base_total=sum((line.base_amount for line in lines), ZERO),
        excess_total=sum((line.excess_amount for line in lines), ZERO),
        total=sum((line.amount for line in lines), ZERO),
        hours_used=sum(used, ZERO),
        excess_hours=sum(excess, ZERO),
        data_gap_hours=sum((line.data_gap_hours for line in lines), ZERO),
    )


def line_values(line: Line) -> dict[str, str | int | None]:
    """A line as JSON-safe values (Decimals as strings, so no amount goes through a float)."""
    return {key: (str(value) if isinstance(value, Decimal) else value) for key, value in line.__dict__.items()}


def delta_lines(old: Sequence[dict], new: Sequence[dict]) -> list[dict]:
    """What changed from ``old`` to ``new`` lines (``line_values`` dicts), per period: the new
    minus the old value of each ``DELTA_FIELDS`` field, only periods where one changed. A period
    only in ``old`` (a contract shortened) is retracted whole; one only in ``new`` is added whole."""
    old_by_start = {line["period_start"]: line for line in old}
    new_by_start = {line["period_start"]: line for line in new}
    deltas = []
    for start in sorted(old_by_start.keys() | new_by_start.keys()):
        before, after = old_by_start.get(start), new_by_start.get(start)
        changes = {
            field: str(Decimal((after or {}).get(field) or 0) - Decimal((before or {}).get(field) or 0))
            for field in DELTA_FIELDS
        }
        if any(Decimal(value) != 0 for value in changes.values()):
            deltas.append({"period_start": start, "period_end": (after or before)["period_end"], **changes})
    return deltas
