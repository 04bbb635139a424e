"""Rental test fixtures' helpers: usage written through the real usage handler, contracts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from equipment_rentals.models import RentalContract
from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler

H = 3_600_000
JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)
AUG = datetime(2026, 8, 1, tzinfo=UTC)


class RecordingPublisher:
    def __init__(self):
        self.records = []

    def publish(self, records):
        self.records.extend(records)
        return len(records)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def hourly_readings(machine: str, start: datetime, busy_hours: list[int], meter: float = 1000.0) -> list[Reading]:
    """A reading every hour from ``start``, one per entry of ``busy_hours`` plus the first: the
    meter goes up by 1 h in each hour whose entry is 1, stays in the others."""
    readings = [Reading(machine, ms(start), meter, None)]
    for index, busy in enumerate(busy_hours, start=1):
        meter += busy
        readings.append(Reading(machine, ms(start) + index * H, meter, None))
    return readings


def june_195_july_170(machine: str = "EX1") -> list[Reading]:
    june = [1] * 195 + [0] * (30 * 24 - 195)
    july = [1] * 170 + [0] * (31 * 24 - 170)
    return hourly_readings(machine, JUNE, june + july)


def feed(readings: list[Reading], batch: int = 500) -> UsageHandler:
    handler = UsageHandler(publisher=RecordingPublisher(), rules=UsageRules())
    for first in range(0, len(readings), batch):
        handler.process(readings[first : first + batch])
    return handler


def contract(**fields) -> RentalContract:
    values = {
        "customer_ref": "CUST-1",
        "machine": "EX1",
        "serial": "SN-1",
        "on_rent": JUNE,
        "off_rent": AUG,
        "basis": "month",
        "base_rate": Decimal(6000),
        "currency": "EUR",
        **fields,
    }
    return RentalContract.objects.create(**values)
