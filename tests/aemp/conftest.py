"""A feed with a page boundary in every document, for the conformance and round-trip tests."""

from __future__ import annotations

import pytest

from equipment_current.business import fold_state_updates
from equipment_history.business import Position
from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from telemetry_site.backends import repositories
from tests.factories import T0, telemetry

BASE = "/aemp/v2/15143/-3"
START, END = "2025-11-24T00:00:00Z", "2025-11-25T00:00:00Z"
FLEET_SIZE = 201  # pages of 100, 100 and 1
SERIES_SIZE = 101  # pages of 100 and 1


class RecordingPublisher:
    def __init__(self) -> None:
        self.records: list = []

    def publish(self, records: list) -> int:
        self.records.extend(records)
        return len(records)


def apply(*records: dict) -> None:
    repositories["current_state"].apply(fold_state_updates(records).values())


@pytest.fixture
def boundary_feed(settings, mongo_db):
    """M000 reports everything and has 101 positions and 101 ledger readings in [START, END);
    M001 reported only its description (every other section missing); M002..M200 report
    everything once. The positions outlive the retention (T0 is in 2025): ten years of it."""
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "collection": "positions", "retention_days": 3650},
        },
    }
    nothing = {"latitude": None, "longitude": None, "hours": None, "km": None, "running": None}
    apply(
        *(telemetry(f"M{i:03d}", T0 + i, km=5000.0 + i / 8) for i in range(FLEET_SIZE) if i != 1),
        telemetry("M001", T0, **nothing, fuel_used=None, fuel_level=None),
    )
    repositories["positions"].insert(
        Position("M000", T0 + i * 60_000, 45.0 + i / 1000, 9.0) for i in range(SERIES_SIZE)
    )
    UsageHandler(publisher=RecordingPublisher(), rules=UsageRules()).process(
        [Reading("M000", T0 + i * 60_000, 100.0 + i / 60, 5000.0 + i / 4) for i in range(SERIES_SIZE)]
    )
