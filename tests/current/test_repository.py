"""CurrentStateRepository and CurrentStateHandler on the in-process engine (or a real server when
MONGO_URI is set)."""

import threading

import pytest
from pymongo.errors import BulkWriteError

from equipment_current.business import fold_state_updates
from equipment_current.handlers import CurrentStateHandler
from equipment_current.repository import CurrentStateRepository, FleetFilter
from stream.consumer import Record
from tests.factories import T0, telemetry


def apply(repository, *records):
    return repository.apply(fold_state_updates(records).values())


def test_indexes_serve_the_stale_brand_and_poi_filters_in_identifier_order(mongo_db):
    CurrentStateRepository(mongo_db).ensure_indexes()
    indexes = mongo_db.current_state.index_information()
    assert {name: index["key"] for name, index in indexes.items() if name != "_id_"} == {
        "last_event_at": [("last_event_at", 1)],
        "brand": [("description.brand", 1), ("_id", 1)],
        "poi": [("points_of_interest.names", 1), ("_id", 1)],
    }


def test_newer_event_updates_older_never_rolls_back(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(repository, telemetry("EX001", T0 + 2000, km=20.0, latitude=2.0, longitude=2.0))
    apply(repository, telemetry("EX001", T0 + 1000, km=10.0, latitude=1.0, longitude=1.0))
    state = repository.get("EX001")
    assert state["odometer"] == {"km_tot": 20.0, "at": T0 + 2000}
    assert state["position"]["latitude"] == 2.0
    assert state["last_event_at"] == T0 + 2000


def test_message_without_gps_keeps_last_known_position(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(repository, telemetry("EX001", T0, latitude=1.0, longitude=1.0, km=1.0))
    apply(repository, telemetry("EX001", T0 + 1000, latitude=None, longitude=None, km=2.0))
    state = repository.get("EX001")
    assert state["position"]["latitude"] == 1.0 and state["position"]["at"] == T0
    assert state["odometer"]["km_tot"] == 2.0
    assert state["last_event_at"] == T0 + 1000


def test_first_sections_are_stored_whatever_their_event_time(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(repository, telemetry("EPOCH", 0, km=1.0), telemetry("BEFORE", -1, km=2.0))
    assert repository.get("EPOCH")["odometer"] == {"km_tot": 1.0, "at": 0}
    assert repository.get("BEFORE")["odometer"] == {"km_tot": 2.0, "at": -1}
    assert repository.get("BEFORE")["last_event_at"] == -1


def test_replaying_the_same_event_changes_nothing(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(repository, telemetry("EX001", T0, km=1.0))
    before = repository.get("EX001")
    apply(repository, telemetry("EX001", T0, km=99.0))  # same event time: the stored one stays
    assert repository.get("EX001") == before


def test_batch_writes_one_bulk_operation(mongo_db):
    calls = []

    class CountingCollection:
        def __init__(self, inner):
            self.inner = inner

        def bulk_write(self, operations, **kwargs):
            calls.append(len(operations))
            return self.inner.bulk_write(operations, **kwargs)

    repository = CurrentStateRepository(mongo_db)
    repository.collection = CountingCollection(repository.collection)
    apply(repository, *[telemetry(f"EX{i % 7}", T0 + i) for i in range(100)])
    assert calls == [7]


def test_two_writers_upserting_the_same_new_machine_both_land(mongo_db):
    """Concurrent upserts of a new machine: whichever loses the insert race retries as an update."""
    repositories = [CurrentStateRepository(mongo_db), CurrentStateRepository(mongo_db)]
    barrier = threading.Barrier(2)
    errors = []

    def write(repository, ts, km):
        try:
            barrier.wait()
            apply(repository, telemetry("NEW1", ts, km=km))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(repositories[0], T0 + 1, 1.0)),
        threading.Thread(target=write, args=(repositories[1], T0 + 2, 2.0)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert repositories[0].get("NEW1")["odometer"] == {"km_tot": 2.0, "at": T0 + 2}
    assert mongo_db.current_state.count_documents({}) == 1


def test_filters_and_stable_order(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(
        repository,
        telemetry("B2", T0, brand="Volvo", model="EC220", pois=["North"], latitude=45.0, longitude=9.0),
        telemetry("A1", T0 + 10, brand="Caterpillar", model="320", pois=["South"], latitude=46.0, longitude=11.0),
        telemetry("C3", T0 + 20, brand="Volvo", model="L90", pois=["North", "South"], latitude=44.0, longitude=8.0),
    )

    def ids(**kwargs):
        return [doc["_id"] for doc in repository.find(FleetFilter(**kwargs), 0, 10)]

    assert ids() == ["A1", "B2", "C3"]
    assert ids(brand="Volvo") == ["B2", "C3"]
    assert ids(brand="Volvo", model="L90") == ["C3"]
    assert ids(poi="South") == ["A1", "C3"]
    assert ids(updated_since=T0 + 10) == ["A1", "C3"]
    assert ids(stale_before=T0 + 10) == ["B2"]
    assert ids(bbox=(8.5, 44.5, 10.0, 45.5)) == ["B2"]
    assert repository.count(FleetFilter(brand="Volvo")) == 2
    assert [doc["_id"] for doc in repository.find(FleetFilter(), 1, 1)] == ["B2"]
    assert repository.find(FleetFilter(), 0, 0) == []


def test_find_without_paging_arguments_is_the_first_page_of_a_hundred(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    apply(repository, *[telemetry(f"M{i:03d}", T0 + i) for i in range(101)])
    assert [doc["_id"] for doc in repository.find(FleetFilter())] == [f"M{i:03d}" for i in range(100)]


class RacingCollection:
    """The real collection, except that the first bulk write loses an insert race (or fails
    otherwise) on the operations at ``indexes``: what a concurrent writer makes MongoDB answer."""

    def __init__(self, collection, indexes, code=11000):
        self.collection = collection
        self.indexes = indexes
        self.code = code
        self.writes = []

    def bulk_write(self, operations, ordered):
        self.writes.append((len(operations), ordered))
        if len(self.writes) == 1:
            lost = [{"index": index, "code": self.code} for index in self.indexes]
            winners = [op for index, op in enumerate(operations) if index not in self.indexes]
            if winners:
                self.collection.bulk_write(winners, ordered=False)
            raise BulkWriteError({"writeErrors": lost})
        return self.collection.bulk_write(operations, ordered=ordered)


def test_operations_that_lost_an_insert_race_are_retried_alone(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    racing = RacingCollection(repository.collection, indexes=[1])
    repository.collection = racing
    records = [telemetry("A", T0, km=1.0), telemetry("B", T0, km=2.0), telemetry("C", T0, km=3.0)]
    assert apply(repository, *records) == 3
    assert racing.writes == [(3, False), (1, False)]  # unordered, and only the loser again
    assert {doc["_id"]: doc["odometer"]["km_tot"] for doc in mongo_db.current_state.find()} == {
        "A": 1.0,
        "B": 2.0,
        "C": 3.0,
    }


def test_a_bulk_error_that_is_not_a_lost_race_propagates(mongo_db):
    repository = CurrentStateRepository(mongo_db)
    repository.collection = RacingCollection(repository.collection, indexes=[0], code=121)
    with pytest.raises(BulkWriteError):
        apply(repository, telemetry("A", T0))
    repository.collection = RacingCollection(repository.collection.collection, indexes=[])
    with pytest.raises(BulkWriteError):  # an error report without write errors is not a lost race
        apply(repository, telemetry("A", T0))
    assert repository.apply([]) == 0


def records(*values):
    return [Record(value, value["identifier"].encode(), "telemetry", 0, offset) for offset, value in enumerate(values)]


def test_handler_folds_a_batch_into_the_repository_it_was_given(mongo_db):
    other = CurrentStateRepository(mongo_db, collection="current_state_other")
    CurrentStateHandler(other).handle(
        records(
            telemetry("A", T0, km=1.0),
            telemetry("A", T0 + 2000, km=3.0, latitude=None, longitude=None),
            telemetry("B", T0 + 1000, km=2.0),
        )
    )
    assert other.get("A")["odometer"] == {"km_tot": 3.0, "at": T0 + 2000}
    assert other.get("A")["position"]["at"] == T0  # the newest message had no GPS
    assert other.get("B")["last_event_at"] == T0 + 1000
    assert mongo_db.current_state.count_documents({}) == 0  # nothing in the configured collection


def test_handler_defaults_to_the_registry(mongo_db):
    CurrentStateHandler().handle(records(telemetry("Z", T0)))
    assert mongo_db.current_state.find_one({"_id": "Z"})["last_event_at"] == T0
