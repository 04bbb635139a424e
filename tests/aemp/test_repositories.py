"""The small read methods the AEMP endpoints added to the history and usage repositories."""

from __future__ import annotations

import pytest

from equipment_history.business import Position
from equipment_history.repository import PositionRepository
from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_registry import EquipmentRegistryRepository
from tests.factories import T0

H = 3_600_000


class RecordingPublisher:
    def publish(self, records: list) -> int:
        return len(records)


@pytest.fixture
def database(mongo_db):
    return mongo_db


def test_readings_are_a_half_open_range_of_one_machine_with_the_counter(database):
    usage = UsageRepository(database)
    usage.ensure_indexes()
    UsageHandler(
        repository=usage,
        registry=EquipmentRegistryRepository(database),
        publisher=RecordingPublisher(),
        rules=UsageRules(),
    ).process(
        [
            Reading("A", T0, 1.0, 10.0),
            Reading("A", T0 + H, 2.0, None),
            Reading("A", T0 + 2 * H, 3.0, 30.0),
            Reading("A", T0 + 3 * H, 4.0, 40.0),
            Reading("B", T0 + H, 9.0, 90.0),
        ]
    )
    start, end = T0, T0 + 3 * H  # the reading at ``end`` is out
    assert usage.count_readings("A", start, end, "hours") == 3
    assert usage.count_readings("A", start, end, "km") == 2
    assert [r["timestamp"] for r in usage.find_readings("A", start, end, "hours")] == [T0, T0 + H, T0 + 2 * H]
    assert usage.find_readings("A", start, end, "km") == [
        {"timestamp": T0, "hours": 1.0, "km": 10.0},
        {"timestamp": T0 + 2 * H, "hours": 3.0, "km": 30.0},
    ]
    assert [r["timestamp"] for r in usage.find_readings("A", start, end, "hours", skip=1, limit=1)] == [T0 + H]
    assert usage.find_readings("A", start, end, "hours", limit=0) == []
    with pytest.raises(ValueError, match="Unknown counter"):
        usage.count_readings("A", start, end, "fuel")


def test_newest_registry_record_of_each_machine(database):
    registry = EquipmentRegistryRepository(database)
    registry.ensure_indexes()
    registry.store(
        [
            {"identifier": "A", "serial_number": "old", "last_update": 1},
            {"identifier": "A", "serial_number": "new", "last_update": 3},
            {"identifier": "A", "serial_number": "middle", "last_update": 2},
            {"identifier": "B", "serial_number": "b", "last_update": 1},
        ]
    )
    newest = registry.newest(["A", "B", "C", "A"])
    assert {key: doc["serial_number"] for key, doc in newest.items()} == {"A": "new", "B": "b"}
    assert registry.newest([]) == {}


def test_positions_count_and_skip(database):
    positions = PositionRepository(database, retention_days=3650)
    positions.ensure_indexes()
    positions.insert(Position("A", T0 + i, 45.0, 9.0) for i in range(10))
    positions.insert([Position("B", T0, 1.0, 2.0)])
    assert positions.count_between("A", T0 + 2, T0 + 8) == 6
    assert positions.count_between("A", T0 + 8, T0 + 2) == 0
    assert [p.timestamp for p in positions.between("A", T0 + 2, T0 + 8, limit=2, skip=3)] == [T0 + 5, T0 + 6]
