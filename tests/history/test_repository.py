"""PositionRepository and PositionHistoryHandler on the in-process engine (or a real server)."""

import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pymongo.errors import BulkWriteError, OperationFailure

from equipment_history.business import MS_PER_DAY, Position, extract_positions, position_documents
from equipment_history.handlers import PositionHistoryHandler
from equipment_history.repository import (
    EVENT_TIME_INDEX,
    KEEP_FOREVER,
    SWEEP_EXPIRY,
    TTL_EXPIRY,
    TTL_INDEX,
    PositionRepository,
    position_document,
    position_id,
)
from stream.consumer import Record
from tests.factories import telemetry
from tests.processes import real_mongo_uri
from tests.properties import property_settings

# Recent event times: the TTL index of a real server would expire old ones.
NOW = int(time.time() * 1000)


def repository_for(mongo_db, retention_days: int = 30, collection: str = "positions") -> PositionRepository:
    repository = PositionRepository(mongo_db, collection=collection, retention_days=retention_days)
    repository.ensure_indexes()
    return repository


def position(identifier: str = "EX001", timestamp: int = NOW, **kwargs) -> Position:
    return Position(identifier, timestamp, kwargs.pop("latitude", 45.0), kwargs.pop("longitude", 9.0), **kwargs)


class ServerIndexes:
    """A mongomock-ng database with what a MongoDB server does with indexes and the embedded engines
    do not: ``collMod`` changes a TTL index's ``expireAfterSeconds`` in place, and creating an index
    whose name exists with other options fails with IndexOptionsConflict (code 85). With ``stale``,
    this process read the indexes before another process created the TTL index: it does not see it
    until its own ``create_index`` of it on that collection. Records the commands, the conflicts and the
    index drops the repository asks for."""

    def __init__(self, inner, stale: bool = False):
        self.inner = inner
        self.commands: list[dict] = []
        self.drops: list[str] = []
        self.conflicts: list[str] = []
        self.stale: set[str] = {"positions", "positions_latest"} if stale else set()

    def __getitem__(self, name):
        return ServerIndexCollection(self, self.inner[name])

    def command(self, command):
        self.commands.append(command)
        spec = command["index"]
        collection = self.inner[command["collMod"]]
        key = collection.index_information()[spec["name"]]["key"]
        collection.drop_index(spec["name"])  # the engine cannot change it in place; the server does
        collection.create_index(key, name=spec["name"], expireAfterSeconds=spec["expireAfterSeconds"])
        return {"ok": 1.0}


class ServerIndexCollection:
    def __init__(self, database: ServerIndexes, inner):
        self.database, self.inner, self.name = database, inner, inner.name

    def index_information(self):
        indexes = self.inner.index_information()
        if self.name in self.database.stale:
            indexes.pop(TTL_INDEX, None)
        return indexes

    def create_index(self, keys, **options):
        if options.get("name") == TTL_INDEX:  # its own create of the index it did not see
            self.database.stale.discard(self.name)
        try:
            return self.inner.create_index(keys, **options)
        except OperationFailure as exc:
            self.database.conflicts.append(self.name)
            raise OperationFailure(str(exc), code=85) from exc

    def drop_index(self, name):
        self.database.drops.append(name)
        return self.inner.drop_index(name)

    def __getattr__(self, name):  # reads and writes: the engine's own
        return getattr(self.inner, name)


def server_repository(mongo_db, retention_days: int, stale: bool = False) -> tuple[PositionRepository, ServerIndexes]:
    database = ServerIndexes(mongo_db, stale)
    repository = PositionRepository(database, retention_days=retention_days, expiry=TTL_EXPIRY)
    repository.ensure_indexes()
    return repository, database


def test_a_server_gets_the_unique_key_and_a_ttl_index_from_the_retention(mongo_db):
    server_repository(mongo_db, retention_days=7)
    indexes = mongo_db.positions.index_information()
    assert indexes["identifier_timestamp"]["unique"] is True
    assert indexes["identifier_timestamp"]["key"] == [("identifier", 1), ("timestamp", 1)]
    assert indexes[TTL_INDEX]["key"] == [("event_time", 1)]
    assert indexes[TTL_INDEX]["expireAfterSeconds"] == 7 * 86400
    assert EVENT_TIME_INDEX not in indexes


def test_a_changed_retention_changes_the_ttl_index_in_place_with_collmod(mongo_db):
    server_repository(mongo_db, retention_days=7)
    _, database = server_repository(mongo_db, retention_days=3)  # a restart with a new HISTORY_RETENTION_DAYS
    assert database.commands == [
        {"collMod": name, "index": {"name": TTL_INDEX, "expireAfterSeconds": 3 * 86400}}
        for name in ("positions", "positions_latest")
    ]
    assert database.drops == []  # no drop and rebuild
    assert mongo_db.positions.index_information()[TTL_INDEX]["expireAfterSeconds"] == 3 * 86400
    _, again = server_repository(mongo_db, retention_days=3)  # the same setting: nothing to do
    assert (again.commands, again.drops) == ([], [])


def test_a_start_that_loses_the_race_to_another_retention_converges_by_collmod(mongo_db):
    server_repository(mongo_db, retention_days=7)  # the other process, first
    # This one read the indexes before the other created the TTL index, so its create conflicts (85).
    _, database = server_repository(mongo_db, retention_days=3, stale=True)
    assert database.conflicts == ["positions", "positions_latest"]
    assert [command["index"]["expireAfterSeconds"] for command in database.commands] == [3 * 86400] * 2
    assert database.drops == []
    assert mongo_db.positions.index_information()[TTL_INDEX]["expireAfterSeconds"] == 3 * 86400
    _, same = server_repository(mongo_db, retention_days=3, stale=True)  # same retention: no conflict
    assert (same.conflicts, same.commands) == ([], [])


def test_an_engine_without_collmod_drops_and_rebuilds_the_ttl_index(mongo_db):
    PositionRepository(mongo_db, retention_days=7, expiry=TTL_EXPIRY).ensure_indexes()
    PositionRepository(mongo_db, retention_days=3, expiry=TTL_EXPIRY).ensure_indexes()  # no collMod here
    assert mongo_db.positions.index_information()[TTL_INDEX]["expireAfterSeconds"] == 3 * 86400


def test_keep_forever_on_a_server_replaces_the_ttl_index_by_a_plain_one(mongo_db):
    server_repository(mongo_db, retention_days=7)
    repository, database = server_repository(mongo_db, retention_days=KEEP_FOREVER)
    indexes = mongo_db.positions.index_information()
    assert TTL_INDEX not in indexes and "expireAfterSeconds" not in indexes[EVENT_TIME_INDEX]
    assert database.drops == [TTL_INDEX, TTL_INDEX]  # the positions and the newest positions
    repository.insert([position(timestamp=1000)])  # 1970
    assert repository.delete_expired(NOW) == 0
    assert [p.timestamp for p in repository.between("EX001", 0, NOW, 10)] == [1000]


def test_the_embedded_engines_get_no_ttl_index_and_expire_by_sweep(mongo_db):
    if real_mongo_uri():
        pytest.skip("a real server expires by its TTL index")
    repository = repository_for(mongo_db, retention_days=1)
    assert repository.expiry == SWEEP_EXPIRY
    indexes = mongo_db.positions.index_information()
    assert TTL_INDEX not in indexes and indexes[EVENT_TIME_INDEX]["key"] == [("event_time", 1)]
    repository.insert([position(timestamp=NOW - 2 * MS_PER_DAY), position(timestamp=NOW - MS_PER_DAY + 5000)])
    assert mongo_db.positions.count_documents({}) == 2  # nothing expires on insert or read
    assert repository.delete_expired(NOW) == 1
    assert [p.timestamp for p in repository.between("EX001", 0, NOW, 10)] == [NOW - MS_PER_DAY + 5000]
    assert repository.delete_expired(NOW + 5000) == 0  # exactly one day old: not yet
    assert repository.delete_expired(NOW + 5001) == 1


def test_an_embedded_store_made_with_a_ttl_index_loses_it(mongo_db):
    if real_mongo_uri():
        pytest.skip("a real server keeps its TTL index")
    mongo_db.positions.create_index([("event_time", 1)], name=TTL_INDEX, expireAfterSeconds=86400)
    repository_for(mongo_db)
    assert TTL_INDEX not in mongo_db.positions.index_information()


def test_positions_get_deterministic_ids(mongo_db):
    repository = repository_for(mongo_db)
    repository.insert([position("EX001", NOW), position("EX002", NOW - 1)])
    assert sorted(d["_id"] for d in mongo_db.positions.find({}, {"_id": 1})) == [
        position_id("EX001", NOW),
        position_id("EX002", NOW - 1),
    ]
    assert position_id("EX001", NOW) == f"EX001|{NOW}"


def test_a_replay_of_a_position_stored_with_an_object_id_is_still_a_duplicate(mongo_db):
    repository = repository_for(mongo_db)
    mongo_db.positions.insert_one(position_document(position(timestamp=NOW - 1)))  # before deterministic ids
    assert repository.insert([position(timestamp=NOW - 1), position(timestamp=NOW)]) == 1
    assert mongo_db.positions.count_documents({}) == 2


def test_newest_positions_expire_with_the_positions_and_are_found_by_time(mongo_db):
    server_repository(mongo_db, retention_days=7)
    indexes = mongo_db.positions_latest.index_information()
    assert (indexes[TTL_INDEX]["key"], indexes[TTL_INDEX]["expireAfterSeconds"]) == ([("event_time", 1)], 7 * 86400)
    assert indexes["timestamp"]["key"] == [("timestamp", 1)]
    server_repository(mongo_db, retention_days=3)
    assert mongo_db.positions_latest.index_information()[TTL_INDEX]["expireAfterSeconds"] == 3 * 86400


def test_the_sweep_expires_newest_positions_with_the_positions(mongo_db):
    if real_mongo_uri():
        pytest.skip("a real server expires by its TTL index")
    repository = repository_for(mongo_db, retention_days=1)
    assert mongo_db.positions_latest.index_information()[EVENT_TIME_INDEX]["key"] == [("event_time", 1)]
    repository.insert([position("OLD", NOW - 2 * MS_PER_DAY), position("NEW", NOW - 1000)])
    assert repository.delete_expired(NOW) == 1
    assert repository.newest_timestamps(["OLD", "NEW"]) == {"NEW": NOW - 1000}


class LosesTheInsertRace:
    """The newest-positions collection of a history consumer that loses a race: before its first
    bulk write lands, another consumer creates the first machine's document (with an older
    position), so that upsert's insert fails on _id (11000) while the others are applied."""

    def __init__(self, collection) -> None:
        self.collection, self.raced = collection, False

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def bulk_write(self, operations, ordered=True):
        if self.raced:
            return self.collection.bulk_write(operations, ordered=ordered)
        self.raced = True
        first = operations[0]._filter["_id"]
        self.collection.insert_one({"_id": first, "identifier": first, "timestamp": 0})
        self.collection.bulk_write(operations[1:], ordered=ordered)
        raise BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}], "nInserted": 0})


def test_a_newest_position_lost_to_another_consumers_insert_is_written_again(mongo_db):
    repository = repository_for(mongo_db)
    repository.latest_positions = LosesTheInsertRace(repository.latest_positions)
    repository.insert([position("A", NOW - 5), position("A", NOW - 2), position("B", NOW - 3)])
    assert repository.latest_positions.raced
    assert repository.newest_timestamps(["A", "B"]) == {"A": NOW - 2, "B": NOW - 3}


def test_duplicates_and_replays_change_nothing_and_cost_one_insert_per_batch(mongo_db):
    calls = []

    class CountingCollection:
        def __init__(self, inner):
            self.inner = inner

        def insert_many(self, documents, **kwargs):
            calls.append((len(documents), kwargs))
            return self.inner.insert_many(documents, **kwargs)

    repository = repository_for(mongo_db)
    repository.collection = CountingCollection(repository.collection)
    first = [position(timestamp=NOW - i * 1000) for i in range(5)]
    assert repository.insert(first) == 5
    before = list(mongo_db.positions.find({}, {"_id": 0}).sort("timestamp"))
    # A replay of the batch plus one new position, with a changed copy of a stored one.
    replay = [*first, position(timestamp=NOW - 10_000), position(timestamp=NOW, latitude=1.0)]
    assert repository.insert(replay) == 1
    assert calls == [(5, {"ordered": False}), (7, {"ordered": False})]
    after = list(mongo_db.positions.find({}, {"_id": 0}).sort("timestamp"))
    assert after[1:] == before
    assert after[0]["timestamp"] == NOW - 10_000
    assert mongo_db.positions.count_documents({"latitude": 1.0}) == 0


def test_between_is_half_open_sorted_and_limited(mongo_db):
    repository = repository_for(mongo_db)
    repository.insert([position("A", NOW - i) for i in (5, 1, 3, 2, 4)] + [position("B", NOW - 3)])
    assert [p.timestamp for p in repository.between("A", NOW - 4, NOW - 1, 10)] == [NOW - 4, NOW - 3, NOW - 2]
    assert [p.timestamp for p in repository.between("A", NOW - 10, NOW, 2)] == [NOW - 5, NOW - 4]
    assert repository.between("NOPE", NOW - 10, NOW, 10) == []
    got = repository.between("B", NOW - 10, NOW, 10)
    assert got == [position("B", NOW - 3)]


def test_latest_per_machine_in_a_window_filtered_by_point_of_interest(mongo_db):
    repository = repository_for(mongo_db)
    start, end = NOW - 100_000, NOW
    repository.insert(
        [
            position("A", start - 1, points_of_interest=("North",)),  # before the window
            position("A", start + 10, points_of_interest=("North",)),
            position("A", start + 20, points_of_interest=("South",)),
            position("B", start + 5, points_of_interest=("North", "South")),
            position("C", start + 1, points_of_interest=("North",)),
            position("C", end, points_of_interest=()),  # at the exclusive end
        ]
    )
    assert [(p.identifier, p.timestamp) for p in repository.latest(start, end)] == [
        ("A", start + 20),
        ("B", start + 5),
        ("C", start + 1),
    ]
    assert repository.count_latest(start, end) == 3
    # A was in North earlier but is in South now: the filter applies to the latest position.
    assert [p.identifier for p in repository.latest(start, end, poi="North")] == ["B", "C"]
    assert repository.count_latest(start, end, poi="South") == 2
    assert [p.identifier for p in repository.latest(start, end, skip=1, limit=1)] == ["B"]
    assert repository.latest(start, end, limit=0) == []
    assert repository.count_latest(end, end + 1) == 1
    assert repository.count_latest(end + 1, end + 2) == 0


class ServerAggregation:
    """The real collection, answering ``aggregate`` as a MongoDB server does where the in-process
    engines differ: ``$group`` hands its groups on in no particular order (here: reversed), ``$count``
    over no documents yields no document (the engines yield ``{"n": 0}``), and ``$limit: 0`` is an
    error."""

    def __init__(self, collection):
        self.collection = collection
        self.groups = collection.database[f"{collection.name}_groups"]

    def aggregate(self, pipeline):
        if any(stage.get("$limit") == 0 for stage in pipeline):
            raise OperationFailure("the limit must be positive", code=15958)
        cut = next((i + 1 for i, stage in enumerate(pipeline) if "$group" in stage), 0)
        self.groups.drop()
        groups = list(self.collection.aggregate(pipeline[:cut]))[::-1] if cut else []
        if groups:
            self.groups.insert_many(groups)
        result = list((self.groups if cut else self.collection).aggregate(pipeline[cut:]))
        counted = "$count" in pipeline[-1]
        return [] if counted and result == [{pipeline[-1]["$count"]: 0}] else result


def test_latest_is_ordered_by_identifier_on_a_server_that_does_not_keep_the_order_of_groups(mongo_db):
    repository = repository_for(mongo_db)
    start, end = NOW - 100_000, NOW
    # 101 machines, each with an older and a newer position in the window.
    repository.insert(position(f"M{i:03d}", start + offset + i) for i in range(101) for offset in (0, 500))
    repository.collection = ServerAggregation(repository.collection)
    latest = repository.latest(start, end)  # without paging arguments: the first 100
    assert [(p.identifier, p.timestamp) for p in latest] == [(f"M{i:03d}", start + 500 + i) for i in range(100)]
    assert [p.identifier for p in repository.latest(start, end, skip=99, limit=5)] == ["M099", "M100"]
    assert repository.count_latest(start, end) == 101
    assert repository.count_latest(end + 1, end + 2) == 0  # the server's $count yields nothing
    assert repository.latest(start, end, limit=0) == []  # never asked: the server rejects $limit 0


def test_handler_stores_positions_of_a_batch_and_skips_messages_without_gps(mongo_db):
    repository = repository_for(mongo_db, collection="positions_other")  # the handler's own, not the registry's
    records = [
        telemetry("A", NOW - 3000, pois=["Site"]),
        telemetry("A", NOW - 3000),  # duplicated message
        telemetry("A", NOW - 2000, latitude=None, longitude=None),
        telemetry("B", NOW - 1000, latitude=44.0, longitude=8.0, base="TO01"),
    ]
    PositionHistoryHandler(repository).handle([Record(r, None, "t", 0, i) for i, r in enumerate(records)])
    assert mongo_db.positions.count_documents({}) == 0
    stored = list(mongo_db.positions_other.find({}, {"_id": 0, "event_time": 0}).sort("timestamp"))
    assert stored == [
        {
            "identifier": "A",
            "timestamp": NOW - 3000,
            "latitude": 45.46,
            "longitude": 9.19,
            "address": "Via Roma 1, Milano",
            "points_of_interest": ["Site"],
            "base": "MI01",
        },
        {
            "identifier": "B",
            "timestamp": NOW - 1000,
            "latitude": 44.0,
            "longitude": 8.0,
            "address": "Via Roma 1, Milano",
            "points_of_interest": [],
            "base": "TO01",
        },
    ]
    # The same instant as a BSON date, which is what the TTL index expires by (engines return it
    # naive or aware in UTC).
    event_time = mongo_db.positions_other.find_one({"identifier": "B"})["event_time"]
    assert event_time.replace(tzinfo=UTC) == datetime.fromtimestamp((NOW - 1000) / 1000, tz=UTC)


def test_handler_defaults_to_the_registry(mongo_db):
    handler = PositionHistoryHandler()
    handler.handle([Record(telemetry("Z", NOW), None, "t", 0, 0)])
    assert mongo_db.positions.count_documents({"identifier": "Z"}) == 1
    assert "identifier_timestamp" in mongo_db.positions.index_information()


def test_the_consumers_one_pass_documents_equal_the_stored_shape_of_the_extracted_positions():
    # The handler builds documents straight from the records (business.position_documents); they
    # must be exactly what position_document makes of extract_positions, edge cases included.
    odd = [
        {"identifier": "C", "timestamp": NOW, "location": None},
        {"identifier": "C", "timestamp": NOW + 1, "location": {"GPS": "nowhere"}},
        {"identifier": "C", "timestamp": NOW + 2, "location": {"GPS": {"latitude": 1}}},
        {
            "identifier": "C",
            "timestamp": NOW + 3,
            "base": "not a section",
            "location": {"GPS": {"latitude": 1, "longitude": -2}, "pointsOfInterest": [None, {"name": ""}, "x"]},
        },
        {"identifier": "D", "timestamp": NOW, "location": {"GPS": {"latitude": 0, "longitude": 0}}},
    ]
    records = [
        telemetry("A", NOW - 3000, pois=["Site", "Other", "Site"]),
        telemetry("A", NOW - 3000, latitude=1.0),  # a duplicate of the same event: first seen wins
        telemetry("A", NOW - 2000, latitude=None, longitude=None),
        telemetry("B", NOW - 1000, address=None, base=None),
        *odd,
        odd[3],
    ]
    expected = [position_document(p) for p in extract_positions(records)]
    assert position_documents(records) == expected
    assert [type(d["latitude"]) for d in position_documents(records)] == [float] * len(expected)
    assert position_documents([]) == []


@property_settings(40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(
            st.tuples(st.sampled_from("ABC"), st.integers(0, 40), st.sampled_from([(), ("North",), ("South",)])),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    ),
    window=st.tuples(st.integers(-2, 42), st.integers(0, 44)),
    poi=st.sampled_from([None, "North", "South"]),
)
def test_latest_per_machine_is_the_newest_position_in_the_window_whatever_the_batches(mongo_db, batches, window, poi):
    """The kept newest positions answer exactly as sorting every position of the window would,
    whatever order the batches (several consumers, replays) arrived in."""
    repository = PositionRepository(mongo_db, collection=f"p{uuid.uuid4().hex[:8]}")
    repository.ensure_indexes()
    base = NOW - 100_000
    stored: dict[tuple[str, int], Position] = {}
    for batch in batches:
        positions = [position(m, base + t * 10, points_of_interest=p, latitude=float(t)) for m, t, p in batch]
        repository.insert(positions)
        for item in positions:
            stored.setdefault(item.key, item)  # the first stored wins, the unique index keeps it
    start, end = base + window[0] * 10, base + window[1] * 10
    newest: dict[str, Position] = {}
    for item in sorted(stored.values(), key=lambda p: p.timestamp):
        if start <= item.timestamp < end:
            newest[item.identifier] = item
    expected = [newest[m] for m in sorted(newest) if poi is None or poi in newest[m].points_of_interest]
    assert repository.latest(start, end, poi) == expected
    assert repository.count_latest(start, end, poi) == len(expected)


def test_newest_positions_are_derived_once_from_positions_stored_before_they_were_kept(mongo_db):
    stored = [position("A", NOW - 10), position("A", NOW), position("B", NOW - 5), position("C", NOW - 1)]
    mongo_db.positions.insert_many([position_document(p) for p in stored])
    repository = repository_for(mongo_db)
    assert repository.newest_timestamps(["A", "B", "D"]) == {"A": NOW, "B": NOW - 5}
    assert [(p.identifier, p.timestamp) for p in repository.latest(NOW - 100, NOW + 1)] == [
        ("A", NOW),
        ("B", NOW - 5),
        ("C", NOW - 1),
    ]


def test_a_machine_newer_than_the_window_answers_with_its_newest_position_inside_it(mongo_db):
    repository = repository_for(mongo_db)
    start, end = NOW - 100_000, NOW - 50_000
    repository.insert(
        [position("A", start + t, points_of_interest=("North",)) for t in (10, 30, 20)]
        + [position("A", end + 5, points_of_interest=("South",)), position("B", start + 1)]
    )
    assert [(p.identifier, p.timestamp) for p in repository.latest(start, end)] == [("A", start + 30), ("B", start + 1)]
    assert [p.identifier for p in repository.latest(start, end, poi="North")] == ["A"]


def test_a_newest_position_only_moves_forward_and_a_duplicate_keeps_the_first_stored(mongo_db):
    repository = repository_for(mongo_db)
    repository.insert([position("A", NOW - 10, points_of_interest=("North",))])
    repository.insert([position("A", NOW - 20, points_of_interest=("South",))])  # a late batch
    assert [(p.timestamp, p.points_of_interest) for p in repository.latest(NOW - 100, NOW)] == [(NOW - 10, ("North",))]
    # Two copies of one position in a batch, as positions keep it: the first stored wins.
    repository.insert(
        [position("B", NOW - 5, points_of_interest=("East",)), position("B", NOW - 5, points_of_interest=())]
    )
    assert repository.latest(NOW - 100, NOW, poi="East")[0].identifier == "B"
    assert repository.latest(NOW - 100, NOW, poi="East") == repository.between("B", NOW - 100, NOW, 10)
