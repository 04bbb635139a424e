"""MongoDB's failures as pymongo raises them: which ones the loop retries, what each repository
does with a write concern error, and the client's settings (issue 23)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WriteError,
    WTimeoutError,
)

from devstack.embedded import free_port
from equipment_current.repository import CurrentStateRepository
from equipment_history.repository import PositionRepository
from equipment_usage.business_ledger import Reading
from equipment_usage.repository_queries import UsageFilter
from equipment_usage.repository_registry import EquipmentRegistryRepository
from stream.consumer import is_transient
from telemetry_site.databases import open_database
from tests.current.test_repository import apply
from tests.factories import T0, telemetry
from tests.processes import ROOT
from tests.reliability.faults import STEPPED_DOWN, WRITE_CONCERN_TIMEOUT, FaultSwitch, FaultyCollection
from tests.usage.test_handler import DAY0, H, make

DUPLICATE = {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}


def bulk_error(write_errors=(), concern_errors=()) -> BulkWriteError:
    return BulkWriteError({"writeErrors": list(write_errors), "writeConcernErrors": list(concern_errors)})


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("connection reset"),
        NotPrimaryError("not primary", {"code": 10107}),
        NetworkTimeout("timed out"),
        ServerSelectionTimeoutError("no primary"),
        ExecutionTimeout("operation exceeded time limit", 50),
        WTimeoutError("waiting for replication timed out", 64),
        WriteConcernError("primary stepped down", 189),
        bulk_error(concern_errors=[WRITE_CONCERN_TIMEOUT]),
        bulk_error([DUPLICATE, {**DUPLICATE, "index": 3}], [STEPPED_DOWN]),
        bulk_error([{"index": 0, "code": 10107}]),  # a write error that is a failover
        bulk_error([DUPLICATE, {"index": 1, "code": 11602}]),
        bulk_error([{"index": 0, "code": 50}]),
        OperationFailure("interrupted due to replication state change", 11602),
        OperationFailure("stale config", 13388),
        OperationFailure("some error", 1, {"errorLabels": ["RetryableWriteError"]}),
    ],
    ids=lambda error: f"{type(error).__name__}-{getattr(error, 'code', '')}",
)
def test_failovers_timeouts_and_write_concern_errors_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        bulk_error([DUPLICATE]),  # only a replay's duplicates: a repository answers it, never the loop
        bulk_error(),  # an error report with no error in it says nothing about the server's state
        bulk_error([{"index": 0, "code": 121}], [WRITE_CONCERN_TIMEOUT]),  # a rejected document
        bulk_error([DUPLICATE, {"index": 1, "code": 2}]),
        bulk_error(concern_errors=[{"code": 100, "errmsg": "Not enough data-bearing nodes"}]),
        bulk_error(concern_errors=[{"code": 79, "errmsg": "unrecognized write concern tag"}]),
        WriteConcernError("Not enough data-bearing nodes", 100),
        WriteConcernError("unrecognized write concern tag", 79),
        DuplicateKeyError("E11000", 11000),
        WriteError("document failed validation", 121),
        OperationFailure("bad value", 2),
        OperationFailure("unauthorized", 13),
        ValueError("x"),
    ],
    ids=lambda error: f"{type(error).__name__}-{getattr(error, 'code', '')}",
)
def test_errors_that_a_retry_would_repeat_are_not_transient(error):
    assert not is_transient(error)


# --- each repository with a write concern error -------------------------------------------------
# The collection fails its next write once, the way a replica set answers a failover: the writes
# are applied (all but the first, which "lost an insert race" to another writer), then reported
# with a write concern error. The repository must hand the error to the loop — not retry the lost
# operation alone and return as if the batch were safe — and the loop's retry of the whole batch
# must then store it exactly.


def fail_next_write(collection, kind: str = "write_concern_mixed", down: bool = True) -> FaultyCollection:
    return FaultyCollection(collection, FaultSwitch(kind=kind, down=down, faults_left=1))


@pytest.mark.parametrize("kind", ["write_concern", "write_concern_mixed"])
def test_current_state_gives_a_write_concern_error_to_the_loop(mongo_db, kind):
    repository = CurrentStateRepository(mongo_db)
    repository.collection = fail_next_write(repository.collection, kind)
    records = [telemetry("A", T0, km=1.0), telemetry("B", T0, km=2.0), telemetry("C", T0, km=3.0)]
    with pytest.raises(BulkWriteError) as failed:
        apply(repository, *records)
    assert is_transient(failed.value)
    assert repository.collection._switch.writes == 1  # the lost operation was not retried alone
    assert apply(repository, *records) == 3  # the loop's retry
    assert {doc["_id"]: doc["odometer"]["km_tot"] for doc in mongo_db.current_state.find()} == {
        "A": 1.0,
        "B": 2.0,
        "C": 3.0,
    }


@pytest.mark.parametrize("kind", ["write_concern", "write_concern_mixed"])
def test_positions_give_a_write_concern_error_to_the_loop(mongo_db, kind):
    repository = PositionRepository(mongo_db)
    repository.ensure_indexes()
    repository.collection = fail_next_write(repository.collection, kind)
    documents = lambda: [  # noqa: E731 - fresh documents per attempt, as the handler builds them
        {"identifier": "A", "timestamp": T0 + i, "latitude": 45.0, "longitude": 9.0} for i in range(3)
    ]
    with pytest.raises(BulkWriteError) as failed:
        repository.insert_documents(documents())
    assert is_transient(failed.value)
    expected_new = 1 if kind == "write_concern_mixed" else 0  # the first was not applied
    assert repository.insert_documents(documents()) == expected_new
    assert sorted(doc["timestamp"] for doc in mongo_db.positions.find()) == [T0, T0 + 1, T0 + 2]


@pytest.mark.parametrize("kind", ["write_concern", "write_concern_mixed"])
def test_newest_positions_give_a_write_concern_error_to_the_loop(mongo_db, kind):
    repository = PositionRepository(mongo_db)
    repository.ensure_indexes()
    repository.latest_positions = fail_next_write(repository.latest_positions, kind)
    documents = lambda: [  # noqa: E731 - fresh documents per attempt, as the handler builds them
        {"identifier": m, "timestamp": T0 + i, "latitude": 45.0, "longitude": 9.0} for m in "ABC" for i in range(2)
    ]
    with pytest.raises(BulkWriteError) as failed:
        repository.insert_documents(documents())
    assert is_transient(failed.value)
    assert repository.latest_positions._switch.writes == 1  # the lost upsert was not retried alone
    repository.insert_documents(documents())  # the loop's retry
    assert repository.newest_timestamps("ABC") == {"A": T0 + 1, "B": T0 + 1, "C": T0 + 1}


@pytest.mark.parametrize("collection", ["usage_last_readings", "usage_daily", "usage_deltas"])
def test_usage_gives_a_write_concern_error_to_the_loop(mongo_db, collection):
    handler, repository, _ = make(mongo_db)
    attribute = {"usage_last_readings": "last_readings", "usage_daily": "daily", "usage_deltas": "deltas"}[collection]
    faulty = fail_next_write(getattr(repository, attribute), "write_concern_mixed", down=False)
    setattr(repository, attribute, faulty)
    readings = [Reading(f"EX{i}", DAY0 + t * H, 10.0 + t, 100.0 + t * 10 * i) for t in (0, 1) for i in (1, 2)]
    handler.process(readings[:2])  # first references
    faulty._switch.down = True  # the next write to the collection fails once
    with pytest.raises(BulkWriteError) as failed:
        handler.process(readings[2:])
    assert is_transient(failed.value)
    handler.process(readings[2:])  # the loop's retry
    km = {group["key"]: group["km"] for group in repository.search(UsageFilter(), "identifier")}
    assert km == {"EX1": 10.0, "EX2": 20.0}


def test_the_registry_gives_a_write_concern_error_to_the_loop(mongo_db):
    registry = EquipmentRegistryRepository(mongo_db)
    registry.collection = fail_next_write(registry.collection)
    versions = [{"identifier": "EX1", "last_update": 1, "hourly_rate": 10.0}, {"identifier": "EX2", "last_update": 1}]
    with pytest.raises(BulkWriteError) as failed:
        registry.store(versions)
    assert is_transient(failed.value)
    assert registry.store(versions) == 2
    assert (registry.get("EX1")["hourly_rate"], registry.get("EX2")["last_update"]) == (10.0, 1)


# --- the client -----------------------------------------------------------------------------------


def test_a_real_servers_client_defaults_to_majority_writes_with_timeouts():
    database = open_database(f"mongodb://127.0.0.1:{free_port()}", "c40")  # connects lazily
    try:
        options = database.client.options
        assert options.write_concern.document == {"w": "majority"}
        assert options.timeout == 10.0 and options.server_selection_timeout == 5.0
        assert options.pool_options.connect_timeout == 5.0
        assert options.retry_writes is True and options.pool_options.metadata["application"] == {
            "name": "c40-telemetry"
        }
        assert database.client.codec_options.tz_aware
    finally:
        database.client.close()


def test_the_uri_wins_over_the_defaults_and_a_number_of_members_is_a_number():
    port = free_port()
    database = open_database(
        f"mongodb://127.0.0.1:{port}/?w=1&appName=from-uri&timeoutMS=1000",
        "c40",
        write_concern="2",
        operation_timeout_ms=7000,
        appname="from-settings",
        retry_writes=False,
        readPreference="primaryPreferred",
    )
    try:
        options = database.client.options
        assert options.write_concern.document == {"w": 1}
        assert options.timeout == 1.0 and options.retry_writes is False
        assert options.pool_options.metadata["application"] == {"name": "from-uri"}
        assert options.read_preference.mongos_mode == "primaryPreferred"
    finally:
        database.client.close()
    other = open_database(f"mongodb://127.0.0.1:{port}", "c40", write_concern=" 2 ")
    try:
        assert other.client.options.write_concern.document == {"w": 2}
    finally:
        other.client.close()


def test_client_settings_come_from_the_environment():
    env = {
        **os.environ,
        "MONGO_URI": "mongodb://db.example:27017/?replicaSet=rs0",
        "MONGO_OPERATION_TIMEOUT_MS": "12000",
        "MONGO_WRITE_CONCERN": "2",
        "MONGO_RETRY_WRITES": "0",
        "MONGO_APPNAME": "c40-web",
        "MONGO_OPTIONS": json.dumps({"tls": True}),
    }
    script = "import json, telemetry_site.settings as s; print(json.dumps(s.TELEMETRY_DATABASES['default']))"
    printed = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["OPTIONS"] == {
        "uri": "mongodb://db.example:27017/?replicaSet=rs0",
        "name": "c40",
        "timeout_ms": 5000,
        "operation_timeout_ms": 12000,
        "write_concern": "2",
        "retry_writes": False,
        "appname": "c40-web",
        "tls": True,
    }


class CreatedByAnotherProbe:
    """The readiness collection of a probe that loses the race to create the document: another
    probe (another web process) inserts it first, and this upsert's insert hits its _id."""

    def __init__(self, collection) -> None:
        self.collection, self.raced = collection, False

    def with_options(self, **options):
        return self

    def update_one(self, *args, **kwargs):
        if not self.raced:
            self.raced = True
            self.collection.insert_one({"_id": "ready"})
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        return self.collection.update_one(*args, **kwargs)


def test_the_readiness_write_survives_two_probes_creating_its_document_at_once(mongo_db):
    from stream.mongo import READINESS_COLLECTION, check_majority_write

    racing = CreatedByAnotherProbe(mongo_db[READINESS_COLLECTION])
    check_majority_write({READINESS_COLLECTION: racing})
    assert racing.raced
    assert "checked_at" in mongo_db[READINESS_COLLECTION].find_one({"_id": "ready"})
