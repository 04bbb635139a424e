"""Computes, issues and versions contract statements (Django models + the usage ledger + Kafka).

A stored version holds the contract's **closed** periods only (ended at or before the time of
computation), so the same ledger gives the same lines whenever it is computed: only late data or a
contract change make a difference, and then a new version is issued with its delta lines and one
event on RENTALS_TOPIC — published first, stored second, so a crash between the two republishes
the same event (same ``event_id``) on the next run instead of losing it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery

from equipment_rentals.business import Statement, Terms, delta_lines, line_values, statement
from equipment_rentals.business_periods import (
    DEFAULT_ALLOWANCE_HOURS,
    HOUR_MS,
    PeriodHours,
    contract_periods,
    hours_in_periods,
    period_bounds_ms,
    utc,
)
from equipment_rentals.models import RentalContract, RentalStatement


def usage_source() -> Any:
    from telemetry_site.backends import repositories

    return repositories["rental_usage"]


def terms_of(contract: RentalContract) -> Terms:
    return Terms(
        base_rate=Decimal(contract.base_rate),
        allowance_hours=Decimal(contract.allowance_hours or DEFAULT_ALLOWANCE_HOURS[contract.basis]),
        overtime_factor=Decimal(contract.overtime_factor),
        shift_multiplier=contract.shift_multiplier,
        pooled=contract.pooled,
    )


def frozen_hours(previous_lines: list[dict], as_of: datetime) -> dict[tuple[str, str], PeriodHours]:
    """Hours of the previous version's periods that ended before the correction horizon
    (RENTALS_RECOMPUTE_DAYS): no late reading can change them any more, and the ledger behind them
    may be pruned, so they are taken from the issued lines, not read again. Money is still
    recomputed from them (a backdated rate change reaches every period)."""
    horizon = as_of - timedelta(days=settings.RENTALS_RECOMPUTE_DAYS)

    def number(value: str | None) -> float | None:
        return None if value is None else float(value)

    return {
        (line["period_start"], line["period_end"]): PeriodHours(
            used=float(line["hours_used"]),
            gap_hours=float(line["data_gap_hours"]),
            meter_start=number(line["hours_start"]),
            meter_end=number(line["hours_end"]),
        )
        for line in previous_lines
        if datetime.fromisoformat(line["period_end"]) < horizon
    }


def compute(
    contract: RentalContract, as_of: datetime, closed_only: bool, previous_lines: list[dict] | None = None
) -> Statement:
    """The contract's statement as of ``as_of``: its closed periods, or also the running one; the
    hours of ``previous_lines``' periods past the correction horizon are reused (``frozen_hours``)."""
    periods = contract_periods(
        contract.on_rent,
        contract.off_rent,
        contract.basis,
        contract.time_zone or settings.RENTALS_TIME_ZONE,
        as_of,
        contract.period_days,
    )
    if closed_only:
        periods = [period for period in periods if utc(period.end) <= utc(as_of)]
    frozen = frozen_hours(previous_lines or [], as_of)
    to_read = [period for period in periods if (period.start.isoformat(), period.end.isoformat()) not in frozen]
    as_of_ms = int(as_of.timestamp() * 1000)
    gap_ms = int(settings.RENTALS_DATA_GAP_HOURS * HOUR_MS)
    read: dict[int, PeriodHours] = {}
    if to_read:
        intervals = usage_source().intervals(
            contract.machine, period_bounds_ms(to_read[0])[0], period_bounds_ms(to_read[-1])[1]
        )
        bounds = [period_bounds_ms(p) for p in to_read]
        read = dict(zip((p.index for p in to_read), hours_in_periods(intervals, bounds, as_of_ms, gap_ms), strict=True))
    usage = [read.get(p.index) or frozen[(p.start.isoformat(), p.end.isoformat())] for p in periods]
    settled = contract.off_rent is not None and contract.off_rent <= as_of
    return statement(terms_of(contract), periods, usage, settled)


def totals_of(result: Statement) -> dict[str, str]:
    fields = ("base_total", "excess_total", "total", "hours_used", "excess_hours", "data_gap_hours")
    return {field: str(getattr(result, field)) for field in fields}


@dataclass(frozen=True)
class Issue:
    """A version to issue: its event first, then its row."""

    contract: RentalContract
    version: int
    lines: list[dict]
    totals: dict[str, str]
    deltas: list[dict]
    event: dict


def event_id(contract_id: int, version: int, lines: list[dict]) -> str:
    payload = json.dumps(lines, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(f"{contract_id}|{version}|{payload}".encode()).hexdigest()


def pending_issue(contract: RentalContract, as_of: datetime) -> Issue | None:
    """The next version, or None when the closed periods' lines are those of the newest version."""
    previous = contract.statements.order_by("-version").first()
    result = compute(contract, as_of, True, previous.lines if previous else None)
    lines = [line_values(line) for line in result.lines]
    if previous is not None and previous.lines == lines:
        return None
    if previous is None and not lines:
        return None  # nothing closed yet: nothing to issue
    version = 1 if previous is None else previous.version + 1
    deltas = delta_lines(previous.lines if previous else [], lines)
    totals = totals_of(result)
    event = {
        "event_id": event_id(contract.pk, version, lines),
        "contract_id": contract.pk,
        "customer_ref": contract.customer_ref,
        "machine": contract.machine,
        "currency": contract.currency,
        "version": version,
        "previous_version": previous.version if previous else None,
        # Retraction and new amount, as usage's records do: a consumer subtracts the one, adds the other.
        "retracted": previous.totals if previous else None,
        "amount": totals,
        "delta_lines": deltas,
    }
    return Issue(contract, version, lines, totals, deltas, event)


def store(issue: Issue) -> RentalStatement | None:
    """The version's row; None if another run stored it first (same version: the same lines)."""
    try:
        with transaction.atomic():
            return RentalStatement.objects.create(
                contract=issue.contract,
                version=issue.version,
                event_id=issue.event["event_id"],
                lines=issue.lines,
                totals=issue.totals,
                delta_lines=issue.deltas,
            )
    except IntegrityError:
        return None


def refresh(contracts: Any, as_of: datetime, publisher: Any) -> list[RentalStatement]:
    """Issue a new version of every contract whose closed periods changed; replays issue nothing."""
    issued = []
    for contract in contracts:
        issue = pending_issue(contract, as_of)
        if issue is None:
            continue
        publisher.publish([issue.event])
        stored = store(issue)
        if stored is not None:
            issued.append(stored)
    return issued


def contract_line(contract: RentalContract, line: dict, version: int | None) -> dict:
    """A statement line with the contract's columns, as exports and the statement show it."""
    return {
        "contract_id": contract.pk,
        "customer_ref": contract.customer_ref,
        "machine": contract.machine,
        "serial": contract.serial,
        "currency": contract.currency,
        "version": version,
        **{key: value for key, value in line.items() if key != "period_index"},
    }


def export_rows(first: date, last: date) -> list[dict]:
    """The lines of each contract's newest issued version whose period starts on a local date in
    ``first``..``last``, by contract and period."""
    newest = RentalStatement.objects.filter(contract=OuterRef("contract")).order_by("-version").values("version")[:1]
    issued = RentalStatement.objects.filter(version=Subquery(newest)).select_related("contract")
    rows = [
        contract_line(version.contract, line, version.version)
        for version in issued.order_by("contract_id")
        for line in version.lines
        if first.isoformat() <= line["period_start"][:10] <= last.isoformat()
    ]
    return sorted(rows, key=lambda row: (row["contract_id"], row["period_start"]))


def _statement_body(contract: RentalContract, version: int | None, lines: list[dict], **rest: Any) -> dict:
    return {
        "contract_id": contract.pk,
        "version": version,
        "currency": contract.currency,
        "lines": [contract_line(contract, line, version) for line in lines],
        **rest,
    }


def live_statement(contract: RentalContract, as_of: datetime) -> dict:
    """Computed now with the running period: not issued, so no version and no delta lines."""
    result = compute(contract, as_of, closed_only=False)
    lines = [line_values(line) for line in result.lines]
    return _statement_body(contract, None, lines, issued_at=None, totals=totals_of(result), delta_lines=[])


def issued_statement(contract: RentalContract, version: int | None) -> dict | None:
    """The newest issued version, or ``version``; None when there is none such."""
    versions = contract.statements.order_by("-version")
    if version is not None:
        versions = versions.filter(version=version)
    issued = versions.first()
    if issued is None:
        return None
    return _statement_body(
        contract,
        issued.version,
        issued.lines,
        issued_at=issued.issued_at.isoformat(),
        totals=issued.totals,
        delta_lines=issued.delta_lines,
    )
