"""Every write of every repository targets one shard under the shard keys of docs/SCALING.md
(``stream.sharding.SHARD_KEYS``): its filter holds an equality on each shard key field,
and each inserted document holds them. The writes are those of the real handlers on a stream with
replays and late readings, recorded on their way to the engine (a real server with MONGO_URI)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from equipment_alerts.clock import SilenceWatch
from equipment_alerts.handlers import AlertHandler
from equipment_alerts.repository import AlertRepository
from equipment_current.handlers import CurrentStateHandler
from equipment_current.repository import CurrentStateRepository
from equipment_history.handlers import PositionHistoryHandler
from equipment_history.repository import PositionRepository
from equipment_maintenance.handlers import MaintenanceHandler
from equipment_maintenance.plans import emit_done
from equipment_maintenance.repository import MaintenanceEventRepository
from equipment_usage.business_ledger import Reading
from equipment_usage.handlers_registry import EquipmentRegistryHandler
from stream.consumer import Record
from stream.sharding import SHARD_KEYS, UNSHARDED
from tests.factories import T0, telemetry
from tests.maintenance.fleet import RecordingPublisher as MaintenanceRecorder
from tests.maintenance.fleet import assign, plan, serviced
from tests.usage.test_handler import DAY0, H, RecordingPublisher, make

WRITES = ("bulk_write", "insert_many", "insert_one", "update_one", "update_many", "replace_one", "delete_one")
WRITES += ("delete_many",)


class RecordingCollection:
    """The real collection; each write is recorded as (collection, kind, filter or document)."""

    def __init__(self, collection: Any, log: list[tuple[str, str, dict]]) -> None:
        self._collection, self._log = collection, log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name not in WRITES:
            return attribute

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._log.extend(described(self._collection.name, name, args))
            return attribute(*args, **kwargs)

        return recorded


class RecordingDatabase:
    def __init__(self, database: Any) -> None:
        self._database, self.log = database, []

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._database[name], self.log)


def described(collection: str, method: str, args: tuple) -> list[tuple[str, str, dict]]:
    if method == "bulk_write":
        out = []
        for operation in args[0]:
            if isinstance(operation, InsertOne):
                out.append((collection, "insert", operation._doc))
            else:
                assert isinstance(operation, UpdateOne | UpdateMany | ReplaceOne | DeleteOne | DeleteMany)
                out.append((collection, type(operation).__name__, operation._filter))
        return out
    if method == "insert_many":
        return [(collection, "insert", document) for document in args[0]]
    if method == "insert_one":
        return [(collection, "insert", args[0])]
    return [(collection, method, args[0])]


def untargeted(log: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    """The recorded writes that lack a shard key field (or hold it as an operator, not a value)."""
    missing = []
    for collection, kind, document in log:
        if collection in UNSHARDED:
            continue
        assert collection in SHARD_KEYS, f"{collection} has no shard key in stream/sharding.py"
        for field in SHARD_KEYS[collection]:
            value = document.get(field)
            if value is None or isinstance(value, dict):
                missing.append((collection, kind, document))
                break
    return missing


def records(values: list[dict]) -> list[Record]:
    return [Record(value, value["identifier"].encode(), "telemetry", 0, offset) for offset, value in enumerate(values)]


def stream() -> list[dict]:
    """Three machines, a replay and a late message, two batches."""
    first = [telemetry(f"M{m}", T0 + i * 60_000 + m, km=100.0 + i) for i in (0, 2, 3) for m in range(3)]
    return [*first, telemetry("M0", T0 + 60_000, km=100.5), first[0]]


def kinds(log: list[tuple[str, str, dict]]) -> set[tuple[str, str]]:
    return {(collection, kind) for collection, kind, _ in log}


def test_current_state_writes_carry_the_shard_key(mongo_db):
    database = RecordingDatabase(mongo_db)
    handler = CurrentStateHandler(CurrentStateRepository(database))
    for batch in (stream()[:6], stream()[6:]):
        handler.handle(records(batch))
    assert kinds(database.log) == {("current_state", "UpdateOne")}
    assert untargeted(database.log) == []


def test_position_inserts_carry_the_shard_key(mongo_db):
    database = RecordingDatabase(mongo_db)
    repository = PositionRepository(database)
    repository.ensure_indexes()
    handler = PositionHistoryHandler(repository)
    for batch in (stream()[:6], stream()[6:]):
        handler.handle(records(batch))
    assert kinds(database.log) == {("positions", "insert"), ("positions_latest", "UpdateOne")}
    assert untargeted(database.log) == []


def test_usage_and_registry_writes_carry_the_shard_key(mongo_db):
    database = RecordingDatabase(mongo_db)
    handler, _, registry = make(mongo_db, database=database)
    registry_handler = EquipmentRegistryHandler(registry, handler.repository, RecordingPublisher())
    registry_handler.handle(
        records([{"identifier": "EX1", "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR", "last_update": 0}])
    )
    handler.process([Reading("EX1", DAY0 + t * H, 10.0 + t, 100.0 + 5 * t, ("site-a",)) for t in (0, 2, 4)])
    handler.process([Reading("EX1", DAY0 + 1 * H, 11.0, 105.0, ("site-b",))])  # late: splits an entry
    handler.process([Reading("EX1", DAY0 + 4 * H, 14.0, 120.0, ("site-a",))])  # a replay
    backdated = {"identifier": "EX1", "hourly_rate": 20.0, "km_rate": 1.0, "currency": "EUR", "last_update": DAY0}
    assert len(registry_handler.process([backdated]).repriced) == 3  # re-prices the stored usage
    # Every kind of write the usage service makes, so that none is left unchecked.
    assert kinds(database.log) >= {
        ("equipment_registry", "UpdateOne"),  # flagged re-priced
        ("usage_repricings", "ReplaceOne"),
        ("equipment_registry", "ReplaceOne"),
        ("usage_deltas", "insert"),
        ("usage_deltas", "ReplaceOne"),
        ("usage_last_readings", "UpdateOne"),
        ("usage_daily", "ReplaceOne"),
        ("usage_daily", "DeleteMany"),
    }
    assert untargeted(database.log) == []


def test_maintenance_writes_carry_the_shard_key(db, mongo_db):
    template = plan()
    for machine in ("M0", "M1"):
        assign(template, machine)
    serviced(template, "M1", 50.0, date(2025, 1, 1))
    database = RecordingDatabase(mongo_db)
    handler = MaintenanceHandler(MaintenanceEventRepository(database), MaintenanceRecorder())
    batch = [telemetry(f"M{m}", T0 + i * 60_000, hours=hours) for m in range(2) for i, hours in enumerate((230, 260))]
    handler.handle(records(batch))
    handler.handle(records(batch))  # a replay
    record = template.services.create(machine="M0", hours=270.0, date=date(2025, 11, 24))
    emit_done(record, 0, MaintenanceRecorder(), handler.events)
    assert kinds(database.log) == {
        ("maintenance_emissions", "insert"),
        ("maintenance_emissions", "UpdateMany"),
        ("maintenance_high_water", "UpdateOne"),
    }
    assert untargeted(database.log) == []


def test_alert_writes_carry_the_shard_key(db, mongo_db):
    database = RecordingDatabase(mongo_db)
    repository = AlertRepository(database)
    publisher = MaintenanceRecorder()
    handler = AlertHandler(repository, publisher)
    batch = [telemetry(f"M{m}", T0 + i * 60_000, fuel_level=10.0, running=False) for m in range(2) for i in range(12)]
    handler.handle(records(batch))
    handler.handle(records(batch))  # a replay
    SilenceWatch(repository, publisher).check(T0 + 5 * 3_600_000)
    repository.acknowledge(next(iter(mongo_db.alerts.find()))["_id"], "tester", T0)
    assert kinds(database.log) == {
        ("alert_machines", "ReplaceOne"),
        ("alerts", "UpdateOne"),
        ("alerts", "update_one"),
    }
    assert untargeted(database.log) == []


def test_an_untargeted_write_is_reported():
    """The check itself: a filter by _id alone, or a range on a shard key field, is caught."""
    log = [
        ("usage_daily", "ReplaceOne", {"_id": "EX1|2025-11-25|a"}),
        ("positions", "insert", {"identifier": "EX1", "timestamp": 5}),
        ("usage_deltas", "DeleteMany", {"identifier": "EX1", "interval_end": {"$gt": 5}}),
        ("consumer_progress", "update_one", {"_id": "current"}),
    ]
    assert untargeted(log) == [log[0], log[2]]
