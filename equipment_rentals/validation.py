"""What makes a contract invalid across its fields, shared by the API serializer and the admin form
(``RentalContract.clean``): each problem keyed by the field to name in the 400 / the form."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Q, QuerySet

from equipment_rentals.currencies import ISO_4217

# Contracts live in this range: a statement walks every period from on-rent, so a year-1 on-rent
# with a daily basis would be 740,000 periods.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def currency_problem(currency: str | None) -> str | None:
    if currency is not None and currency not in ISO_4217:
        return f"Unknown currency {currency[:8]!r}; an ISO 4217 code such as EUR."
    return None


def period_problems(
    contracts: QuerySet,
    machine: str | None,
    on_rent: datetime | None,
    off_rent: datetime | None,
    exclude_pk: int | None,
) -> dict[str, str]:
    """``off_rent`` not after ``on_rent``, or another of ``contracts`` (every stored contract: the
    caller passes the manager, so that this module needs no import of the models) overlapping."""
    if on_rent is None or machine is None:
        return {}
    for name, moment in (("on_rent", on_rent), ("off_rent", off_rent)):
        if moment is not None and not EARLIEST <= moment < LATEST:
            return {name: f"Must be from {EARLIEST.year} to {LATEST.year - 1}."}
    if off_rent is not None and off_rent <= on_rent:
        return {"off_rent": "Must be after on_rent."}
    overlapping = contracts.filter(machine=machine).filter(Q(off_rent__isnull=True) | Q(off_rent__gt=on_rent))
    if off_rent is not None:
        overlapping = overlapping.filter(on_rent__lt=off_rent)
    if exclude_pk is not None:
        overlapping = overlapping.exclude(pk=exclude_pk)
    other = overlapping.order_by("on_rent").first()
    if other is None:
        return {}
    until = other.off_rent.isoformat() if other.off_rent else "open end"
    return {"machine": f"Already on rent under contract {other.pk} from {other.on_rent.isoformat()} to {until}."}
