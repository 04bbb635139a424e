"""UsageHandler and the repositories on the in-process engine (or a real server with MONGO_URI).

The publisher here is a recording stand-in with the real one's contract (publish or raise); the
real one, with the real broker, is exercised in test_consumer_broker.py.
"""

import random
from dataclasses import replace

import pytest
from pymongo.errors import BulkWriteError

from equipment_usage.business_daily import record_id
from equipment_usage.business_late import too_late_entry
from equipment_usage.business_ledger import FIRST, Entry, Rates, Reading, Reference, UsageRules
from equipment_usage.handlers import UsageHandler
from equipment_usage.handlers_registry import EquipmentRegistryHandler
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import _raise_unless_duplicates
from equipment_usage.repository_queries import UsageFilter
from equipment_usage.repository_registry import EquipmentRegistryRepository
from stream.codecs import TransientError
from stream.consumer import Record

H = 3_600_000
DAY0 = 1_764_028_800_000  # 2025-11-25T00:00:00Z
RULES = UsageRules(time_zone="UTC", max_speed_kmh=60.0, hours_tolerance=0.1, km_tolerance=0.1)


class RecordingPublisher:
    def __init__(self, fail_times: int = 0):
        self.records: list[dict] = []
        self.fail_times = fail_times

    def publish(self, records):
        if self.fail_times:
            self.fail_times -= 1
            raise TransientError("broker down")
        self.records.extend(records)
        return len(records)


class CountingCollection:
    def __init__(self, inner, calls, name):
        self.inner, self.calls, self.name = inner, calls, name

    def __getattr__(self, attribute):
        value = getattr(self.inner, attribute)
        if attribute in {"find", "find_one", "aggregate", "bulk_write", "insert_one", "update_one", "count_documents"}:

            def counted(*args, **kwargs):
                self.calls.append(f"{self.name}.{attribute}")
                return value(*args, **kwargs)

            return counted
        return value


class CountingDatabase:
    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getitem__(self, name):
        return CountingCollection(self.inner[name], self.calls, name)


def fleet_readings(machines=5, per_machine=30, seed=3):
    rng = random.Random(seed)
    streams = []
    for m in range(machines):
        hours, km, stream = 100.0 * m, 1000.0 * m, []
        for i in range(per_machine):
            hours += rng.choice([0.0, 0.25, 0.5])
            km += rng.choice([0.0, 3.0, 7.5])
            stream.append(Reading(f"EX{m}", DAY0 + i * H - 7 * H + m, hours, km, (f"site-{(m + i) % 3}",)))
        streams.append(stream)
    merged = []  # interleaved across machines, each machine in event order
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        merged.append(stream.pop(0))
    return merged


def make(mongo_db, publisher=None, database=None):
    repository = UsageRepository(database or mongo_db)
    registry = EquipmentRegistryRepository(database or mongo_db)
    repository.ensure_indexes()
    registry.ensure_indexes()
    return UsageHandler(repository, registry, publisher or RecordingPublisher(), RULES), repository, registry


def snapshot(mongo_db):
    return (
        sorted(mongo_db.usage_deltas.find(), key=lambda d: d["_id"]),
        sorted(mongo_db.usage_daily.find(), key=lambda d: d["_id"]),
        sorted(mongo_db.usage_last_readings.find(), key=lambda d: d["_id"]),
    )


def test_batch_uses_a_constant_number_of_round_trips(mongo_db):
    database = CountingDatabase(mongo_db)
    handler, _, _ = make(mongo_db, database=database)
    readings = fleet_readings()
    database.calls.clear()
    handler.process(readings[:20])
    first = list(database.calls)
    database.calls.clear()
    handler.process(readings[20:])
    assert (
        first
        == database.calls
        == [
            "usage_last_readings.find",
            "equipment_registry.find",
            "usage_deltas.bulk_write",
            "usage_last_readings.bulk_write",
            "equipment_registry.find",  # the rates again: did a version arrive meanwhile?
            "usage_daily.bulk_write",  # added to: no read of the ledger for a batch that extends it
        ]
    )
    database.calls.clear()
    handler.process(readings[:20])  # a replay: one more read tells replay from late, nothing to write
    assert database.calls == [
        "usage_last_readings.find",
        "equipment_registry.find",
        "usage_deltas.find",
        "equipment_registry.find",
        "usage_deltas.aggregate",
        "usage_daily.bulk_write",
    ]


def test_totals_equal_the_counters_and_batch_boundaries_do_not_matter(mongo_db):
    readings = fleet_readings()
    handler, repository, _ = make(mongo_db)
    handler.process(readings)
    one_batch = snapshot(mongo_db)
    for machine in range(5):
        mine = [r for r in readings if r.identifier == f"EX{machine}"]
        (total,) = repository.search(UsageFilter(identifier=f"EX{machine}"), "identifier")
        assert total["hours"] == pytest.approx(mine[-1].hours - mine[0].hours)
        assert total["km"] == pytest.approx(mine[-1].km - mine[0].km)
        assert total["cost"] is None and total["unpriced"] == total["deltas"] > 0

    for name in ("usage_deltas", "usage_daily", "usage_last_readings"):
        mongo_db[name].delete_many({})
    rng = random.Random(1)
    start = 0
    while start < len(readings):
        size = rng.randint(1, 17)
        handler.process(readings[start : start + size])
        start += size
    assert snapshot(mongo_db) == one_batch


def test_replay_writes_nothing_and_republishes_the_same_record_ids(mongo_db):
    publisher = RecordingPublisher()
    handler, _, _ = make(mongo_db, publisher)
    readings = fleet_readings()
    outcome = handler.process(readings)
    before = snapshot(mongo_db)
    first_ids = [r["record_id"] for r in publisher.records]
    assert len(first_ids) == len(set(first_ids)) == outcome.published
    assert outcome.inserted == len(readings)  # one ledger entry per distinct reading

    publisher.records.clear()
    replay = handler.process(readings)
    assert replay.inserted == 0 and replay.late == 0 and len(replay.replayed) == len(readings)
    assert snapshot(mongo_db) == before
    assert sorted(r["record_id"] for r in publisher.records) == sorted(first_ids)


def test_failed_publish_leaves_nothing_lost_on_retry(mongo_db):
    """The batch is persisted, then publishing fails (broker down): the loop retries the batch,
    whose readings are now behind their references; their records are still published."""
    publisher = RecordingPublisher(fail_times=1)
    handler, _, _ = make(mongo_db, publisher)
    readings = fleet_readings(machines=2, per_machine=5)
    with pytest.raises(TransientError):
        handler.process(readings)
    retry = handler.process(readings)
    assert retry.inserted == 0 and retry.late == 0
    expected = {
        record_id(e.identifier, e.start, e.end.timestamp, day) for e in retry.replayed if e.counted for day in e.dates
    }
    assert len(expected) > 0 and {r["record_id"] for r in publisher.records} == expected


def test_late_reading_splits_the_interval_that_spans_it(mongo_db):
    handler, repository, _ = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 2 * H, 11.0, 110.0)])
    outcome = handler.process([Reading("EX1", DAY0 + H, 10.5, 105.0), Reading("EX1", DAY0 + 2 * H, 11.0, 110.0)])
    assert outcome.late == 1 and outcome.duplicates == 0 and len(outcome.replayed) == 1
    entries = repository.find_entries("EX1", None, None)
    assert [(e["interval_start"], e["interval_end"], e["flags"], e["hours"], e["km"]) for e in entries] == [
        (None, DAY0, ["first"], None, None),
        (DAY0, DAY0 + H, [], 0.5, 5.0),
        (DAY0 + H, DAY0 + 2 * H, [], 0.5, 5.0),
    ]
    assert entries[2]["corrected_by"] == DAY0 + H and entries[2]["replaced"]["interval_start"] == DAY0
    # what a replay of the late reading reads: its own entry and the one it corrected, nothing else
    assert sorted(repository.behind_entries({"EX1": [DAY0 + H]})) == [entries[1]["_id"], entries[2]["_id"]]
    (total,) = repository.search(UsageFilter(identifier="EX1"), "day")
    assert (total["key"], total["hours"], total["km"], total["deltas"]) == ("2025-11-25", 1.0, 10.0, 2)
    assert repository.references(["EX1"])["EX1"].timestamp == DAY0 + 2 * H


def test_duplicate_inside_a_batch_is_counted_once(mongo_db):
    handler, repository, _ = make(mongo_db)
    reading = Reading("EX1", DAY0 + H, 11.0, 110.0)
    outcome = handler.process([Reading("EX1", DAY0, 10.0, 100.0), reading, reading, reading])
    assert outcome.duplicates == 2 and outcome.late == 0
    assert repository.count_entries("EX1", None, None) == 2


def test_costs_use_the_registry_version_in_effect_and_group_by_poi_and_day(mongo_db):
    handler, repository, registry = make(mongo_db)
    registry_handler = EquipmentRegistryHandler(registry)
    versions = [
        {"identifier": "EX1", "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR", "last_update": DAY0 - H},
        {"identifier": "EX1", "hourly_rate": 20.0, "km_rate": 2.0, "currency": "EUR", "last_update": DAY0 + H},
    ]
    registry_handler.handle([Record(v, b"EX1", "registry", 0, i) for i, v in enumerate(reversed(versions))])
    assert registry.get("EX1")["hourly_rate"] == 20.0  # newest last_update wins
    handler.process(
        [
            Reading("EX1", DAY0 - H, 10.0, 100.0, ("A", "B")),
            Reading("EX1", DAY0 + H, 12.0, 120.0, ("A",)),  # 2 h, 20 km at 10/h, 1/km, half each to A and B
            Reading("EX1", DAY0 + 2 * H, 13.0, 130.0),  # 1 h, 10 km at 20/h, 2/km, all to A
        ]
    )
    by_poi = {g["key"]: (g["hours"], g["km"], g["cost"]) for g in repository.search(UsageFilter(), "poi")}
    assert by_poi == {"A": (2.0, 20.0, 60.0), "B": (1.0, 10.0, 20.0)}
    by_day = {g["key"]: (g["hours"], g["km"], g["cost"]) for g in repository.search(UsageFilter(), "day")}
    assert by_day == {"2025-11-24": (1.0, 10.0, 20.0), "2025-11-25": (2.0, 20.0, 60.0)}
    only_b = repository.search(UsageFilter(poi="B", date_from="2025-11-25"), "day")
    assert [(g["key"], g["hours"]) for g in only_b] == [("2025-11-25", 0.5)]
    assert repository.search(UsageFilter(date_to="2025-11-23"), "day") == []


def test_registry_keeps_one_version_per_update_and_answers_the_newest(mongo_db):
    registry = EquipmentRegistryRepository(mongo_db)
    registry.ensure_indexes()
    assert registry.store([]) == 0
    versions = [
        {"identifier": "EX1", "last_update": 100, "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR"},
        {"identifier": "EX1", "last_update": 300, "hourly_rate": 30.0, "km_rate": 3.0, "currency": "EUR"},
        {"identifier": "EX1", "last_update": 200, "hourly_rate": 20.0, "km_rate": 2.0, "currency": "EUR"},
        {"identifier": "EX2", "last_update": 999, "hourly_rate": 99.0, "km_rate": None, "currency": "CHF"},
    ]
    assert registry.store(versions) == 4
    assert registry.store(versions) == 4  # a replay stores the same four documents again
    assert sorted(doc["_id"] for doc in registry.collection.find()) == ["EX1|100", "EX1|200", "EX1|300", "EX2|999"]
    newest = registry.get("EX1")
    assert (newest["last_update"], newest["hourly_rate"]) == (300, 30.0)
    assert registry.get("EX2")["currency"] == "CHF"
    assert registry.get("EX9") is None


@pytest.fixture
def unreachable_kafka(settings):
    """Kafka settings naming a port nothing listens on: creating clients does not connect synchronously."""
    settings.TELEMETRY_KAFKA = {
        "default": {
            "BACKEND": "stream.kafka.KafkaClientFactory",
            "OPTIONS": {"common": {"bootstrap.servers": "127.0.0.1:9", "log_level": 0}},
        }
    }


def test_opening_the_kafka_clients_creates_the_publisher_s_producer_before_any_publish(unreachable_kafka):
    from equipment_usage.publisher import UsagePublisher

    handler = UsageHandler(publisher=UsagePublisher())
    assert handler.publisher._producer is None  # lazy until asked
    handler.open_kafka_clients()
    producer = handler.publisher._producer
    assert producer is not None
    handler.open_kafka_clients()
    assert handler.publisher._producer is producer  # opened once


def test_the_usage_loop_opens_the_publisher_s_producer_with_its_other_kafka_clients(unreachable_kafka):
    from telemetry_site.services import build_consumer_loop

    loop = build_consumer_loop("usage")
    try:
        assert loop.handler.publisher._producer is not None
    finally:
        loop.consumer.close()


def test_a_handler_without_rules_takes_them_from_the_settings(settings):
    settings.USAGE_TIME_ZONE = "Europe/Rome"
    settings.USAGE_MAX_SPEED_KMH = 55.0
    settings.USAGE_HOURS_TOLERANCE = 0.25
    settings.USAGE_KM_TOLERANCE = 0.75
    settings.USAGE_LATE_READING_MAX_AGE_DAYS = 7.0
    assert UsageHandler(publisher=RecordingPublisher()).rules == UsageRules(
        time_zone="Europe/Rome", max_speed_kmh=55.0, hours_tolerance=0.25, km_tolerance=0.75, late_max_age_days=7.0
    )


def test_registry_handler_stores_into_the_repository_it_was_given(mongo_db):
    given = EquipmentRegistryRepository(mongo_db, collection="registry_elsewhere")
    record = {"identifier": "EX1", "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR", "last_update": 5}
    EquipmentRegistryHandler(given).handle([Record(record, b"EX1", "registry", 0, 0)])
    assert given.get("EX1")["hourly_rate"] == 10.0
    assert EquipmentRegistryRepository(mongo_db).get("EX1") is None  # not the configured one


class RacingCollection:
    """The real collection, except that its first bulk write loses an insert race (or fails
    otherwise) on the operations at ``indexes``: what MongoDB answers when another consumer inserted
    the same new document between our match and our insert. Like MongoDB, an unordered write
    applies the other operations; an ordered one stops at the first failure."""

    def __init__(self, collection, indexes, code=11000):
        self.collection, self.indexes, self.code = collection, indexes, code
        self.writes = []

    def bulk_write(self, operations, ordered):
        self.writes.append((len(operations), ordered))
        if len(self.writes) > 1:
            return self.collection.bulk_write(operations, ordered=ordered)
        lost = self.indexes[:1] if ordered else self.indexes
        applied = (
            operations[: lost[0]] if ordered and lost else [op for i, op in enumerate(operations) if i not in lost]
        )
        if applied:
            self.collection.bulk_write(applied, ordered=True)
        raise BulkWriteError({"writeErrors": [{"index": index, "code": self.code} for index in lost]})

    def __getattr__(self, attribute):
        return getattr(self.collection, attribute)


def test_references_that_lost_an_insert_race_are_saved_by_a_retry(mongo_db):
    handler, repository, _ = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0)])
    racing = repository.last_readings = RacingCollection(repository.last_readings, indexes=[1, 2])
    handler.process([Reading(f"EX{i}", DAY0 + H, 11.0 + i, 110.0) for i in (1, 2, 3)])
    assert racing.writes == [(3, False), (2, False)]  # unordered, and only the two losers again
    assert {i: repository.references([i])[i].hours for i in ("EX1", "EX2", "EX3")} == {
        "EX1": 12.0,
        "EX2": 13.0,
        "EX3": 14.0,
    }


def test_daily_totals_that_lost_an_insert_race_are_written_by_a_retry(mongo_db):
    handler, repository, _ = make(mongo_db)
    readings = [Reading(f"EX{i}", DAY0 + t * H, 10.0 + t, 100.0 + t * 10 * i) for t in (0, 1) for i in (1, 2, 3)]
    racing = repository.daily = RacingCollection(repository.daily, indexes=[0])
    handler.process(readings)
    # The lost total is rebuilt from the ledger: its replace and the removal of sources that went.
    assert racing.writes == [(3, False), (2, False)]
    by_machine = {g["key"]: g["km"] for g in repository.search(UsageFilter(), "identifier")}
    assert by_machine == {"EX1": 10.0, "EX2": 20.0, "EX3": 30.0}


def test_registry_versions_that_lost_an_insert_race_are_stored_by_a_retry(mongo_db):
    registry = EquipmentRegistryRepository(mongo_db)
    racing = registry.collection = RacingCollection(registry.collection, indexes=[0])
    versions = [{"identifier": "EX1", "last_update": 1, "hourly_rate": 10.0}, {"identifier": "EX2", "last_update": 1}]
    assert registry.store(versions) == 2
    assert racing.writes == [(2, False), (1, False)]
    assert (registry.get("EX1")["hourly_rate"], registry.get("EX2")["last_update"]) == (10.0, 1)


def test_a_write_error_that_is_not_a_lost_race_propagates(mongo_db):
    """Only duplicates are a lost race; any other write error (here a validation failure, or a
    write concern error without write errors) must reach the loop, which retries the batch."""
    registry = EquipmentRegistryRepository(mongo_db)
    real = registry.collection
    for failing in (RacingCollection(real, indexes=[0, 1], code=121), RacingCollection(real, indexes=[])):
        registry.collection = failing
        with pytest.raises(BulkWriteError):
            registry.store([{"identifier": "EX1", "last_update": 1}, {"identifier": "EX1", "last_update": 2}])
    assert _raise_unless_duplicates(BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}]})) == [
        {"index": 0, "code": 11000}
    ]


def test_indexes_serve_the_ledger_daily_and_registry_queries(mongo_db):
    make(mongo_db)

    def indexes(collection):
        return {
            name: (info["key"], bool(info.get("unique")), bool(info.get("sparse")), info.get("partialFilterExpression"))
            for name, info in mongo_db[collection].index_information().items()
            if name != "_id_"
        }

    # No sparse index (a sparse index on a field stored as null indexes everything); the ledger's
    # uniqueness is its deterministic _id.
    assert indexes("usage_deltas") == {
        "identifier_interval_end_start": (
            [("identifier", 1), ("interval_end", 1), ("interval_start", 1)],
            False,
            False,
            None,
        ),
        "identifier_dates": ([("identifier", 1), ("dates", 1)], False, False, None),
        "identifier_interval_start": ([("identifier", 1), ("interval_start", 1)], False, False, None),
        "identifier_corrected_by": (
            [("identifier", 1), ("corrected_by", 1)],
            False,
            False,
            {"corrected_by": {"$type": "number"}},
        ),
        "identifier_repriced_by": (
            [("identifier", 1), ("repriced_by", 1)],
            False,
            False,
            {"repriced_by": {"$type": "string"}},
        ),
    }
    assert indexes("usage_repricings") == {"logged_at": ([("logged_at", -1)], False, False, None)}
    assert indexes("usage_daily") == {
        "identifier_date": ([("identifier", 1), ("date", 1)], False, False, None),
        "source_date": ([("source", 1), ("date", 1)], False, False, None),
        "date": ([("date", 1)], False, False, None),
    }
    assert indexes("equipment_registry") == {
        "identifier_last_update": ([("identifier", 1), ("last_update", -1)], True, False, None),
    }


def test_a_ledger_made_with_the_unique_and_sparse_indexes_gets_the_new_ones(mongo_db):
    deltas = mongo_db.usage_deltas
    deltas.create_index([("identifier", 1), ("interval_end", 1)], unique=True, name="identifier_interval_end")
    deltas.create_index([("identifier", 1), ("corrected_by", 1)], name="identifier_corrected_by", sparse=True)
    deltas.create_index([("identifier", 1), ("repriced_by", 1)], name="identifier_repriced_by", sparse=True)
    make(mongo_db)
    make(mongo_db)  # a second start changes nothing
    info = deltas.index_information()
    assert "identifier_interval_end" not in info and "identifier_interval_end_start" in info
    assert info["identifier_corrected_by"]["partialFilterExpression"] == {"corrected_by": {"$type": "number"}}
    assert not info["identifier_corrected_by"].get("sparse")
    assert info["identifier_repriced_by"]["partialFilterExpression"] == {"repriced_by": {"$type": "string"}}
    assert not info["identifier_repriced_by"].get("sparse")


def test_only_corrected_entries_store_corrected_by(mongo_db):
    _, repository, _ = make(mongo_db)
    entry = Entry("EX1", None, Reading("EX1", 1000, 1.0, 1.0), None, None, (FIRST,))
    repository.insert_entries([entry, replace(entry, end=Reading("EX1", 2000, 1.0, 1.0), corrected_by=1500)])
    stored = {doc["interval_end"]: doc for doc in mongo_db.usage_deltas.find()}
    assert "corrected_by" not in stored[1000] and stored[2000]["corrected_by"] == 1500
    assert "repriced_by" not in stored[1000] and "repriced_by" not in stored[2000]
    assert Entry.from_dict(stored[1000]) == entry


def test_newest_registry_records_only_of_the_machines_asked_for(mongo_db):
    registry = EquipmentRegistryRepository(mongo_db)
    registry.ensure_indexes()
    registry.store(
        [
            {"identifier": "EX1", "last_update": 1, "hourly_rate": 10.0},
            {"identifier": "EX2", "last_update": 3, "hourly_rate": 30.0},
            {"identifier": "EX2", "last_update": 2, "hourly_rate": 20.0},
        ]
    )
    assert {key: doc["hourly_rate"] for key, doc in registry.newest(["EX2", "EX9"]).items()} == {"EX2": 30.0}
    rates = registry.rates(["EX2", "EX9", "EX2"])
    assert sorted(rates) == ["EX2"]
    assert sorted(rates["EX2"], key=lambda r: r.last_update) == [Rates(2, 20.0, None, None), Rates(3, 30.0, None, None)]
    assert registry.rates([]) == {}


def test_references_only_of_the_machines_asked_for(mongo_db):
    handler, repository, _ = make(mongo_db)
    handler.process([Reading(identifier, DAY0, 10.0, 100.0) for identifier in ("EX1", "EX2", "EX3")])
    assert sorted(repository.references(["EX3", "EX9", "EX1"])) == ["EX1", "EX3"]
    assert repository.references([]) == {}


def test_ledger_and_reading_pages_follow_event_time_not_arrival(mongo_db):
    handler, repository, _ = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 2 * H, 11.0, 110.0)])
    handler.process([Reading("EX1", DAY0 + H, 10.5, 105.0)])  # late: its entry is stored last
    times = [DAY0, DAY0 + H, DAY0 + 2 * H]
    assert [e["interval_end"] for e in repository.find_entries("EX1", None, None)] == times
    assert [r["timestamp"] for r in repository.find_readings("EX1", DAY0, DAY0 + 3 * H, "hours")] == times
    assert [e["interval_end"] for e in repository.find_entries("EX1", None, None, skip=1, limit=1)] == [DAY0 + H]
    assert repository.find_entries("EX1", None, None, limit=0) == []  # to MongoDB, limit(0) means no limit
    assert repository.count_entries("EX1", DAY0 + H, None) == 2
    assert repository.count_entries("EX1", None, DAY0 + H) == 2


def test_pages_without_bounds_are_the_first_100_by_time_and_by_identifier(mongo_db):
    handler, repository, _ = make(mongo_db)
    others = [Reading(f"M{i:03d}", DAY0, 1.0, None) for i in range(100)]
    handler.process(others + [Reading("EX1", DAY0 + i * H, 10.0 + i, None) for i in range(101)])
    entries = repository.find_entries("EX1", None, None)
    assert (len(entries), entries[0]["interval_end"], entries[-1]["interval_end"]) == (100, DAY0, DAY0 + 99 * H)
    assert len(repository.find_readings("EX1", DAY0, DAY0 + 101 * H, "hours")) == 100
    # EX1's reference was stored after the others': the page is by identifier all the same.
    references = repository.find_references()
    assert [r["_id"] for r in references[:2]] == ["EX1", "M000"] and len(references) == 100
    assert repository.count_references() == 101
    assert repository.find_references(limit=0) == []


def test_search_groups_come_sorted_by_key_whatever_the_arrival(mongo_db):
    handler, repository, _ = make(mongo_db)
    for identifier in ("EX3", "EX1", "EX2"):  # daily totals written in this order
        handler.process([Reading(identifier, DAY0, 10.0, 100.0), Reading(identifier, DAY0 + H, 10.5, 110.0)])
    assert [g["key"] for g in repository.search(UsageFilter(), "identifier")] == ["EX1", "EX2", "EX3"]


def test_recomputing_daily_totals_again_changes_nothing(mongo_db):
    handler, repository, _ = make(mongo_db)
    outcome = handler.process(fleet_readings(machines=2, per_machine=10))
    before = snapshot(mongo_db)
    assert repository.recompute_daily(outcome.days) == mongo_db.usage_daily.count_documents({}) > 2
    assert repository.recompute_daily([]) == 0
    assert snapshot(mongo_db) == before


def test_a_machine_first_reference_is_stored_whatever_its_event_time(mongo_db):
    _, repository, _ = make(mongo_db)
    epoch, before = Reference("EPOCH", 0, 1.0, 0, None, None), Reference("BEFORE", -1, 2.0, -1, None, None)
    assert repository.save_references([epoch, before]) == 2
    stored = repository.references(["EPOCH", "BEFORE"])
    assert (stored["EPOCH"].timestamp, stored["BEFORE"].timestamp, stored["BEFORE"].hours) == (0, -1, 2.0)


def test_a_reference_is_replaced_only_by_a_newer_reading_or_a_correction_of_the_same(mongo_db):
    _, repository, _ = make(mongo_db)

    def saved(*references, corrected=()):
        assert repository.save_references(references, corrected) == len(references) + len(corrected)
        return mongo_db.usage_last_readings.find_one({"_id": "EX1"})

    first = Reference("EX1", DAY0 + H, 11.0, DAY0 + H, 110.0, DAY0 + H, ("A",))
    assert saved(first) == {
        "_id": "EX1",
        "identifier": "EX1",
        "timestamp": DAY0 + H,
        "hours": 11.0,
        "hours_at": DAY0 + H,
        "km": 110.0,
        "km_at": DAY0 + H,
        "pois": ["A"],
    }
    assert saved(replace(first, timestamp=DAY0, hours=1.0))["hours"] == 11.0  # older: kept
    assert saved(replace(first, hours=12.0))["hours"] == 11.0  # the same reading again: kept
    corrected = replace(first, hours=10.5, hours_at=DAY0 + H // 2)  # its carried hours corrected
    assert saved(corrected=[corrected])["hours"] == 10.5
    assert saved(corrected=[replace(first, timestamp=DAY0, hours=1.0)])["hours"] == 10.5  # older: kept
    assert saved(replace(first, timestamp=DAY0 + 2 * H, hours=12.0))["hours"] == 12.0
    assert repository.save_references([], []) == 0


def test_a_batch_recomputes_every_day_it_touched_of_every_machine(mongo_db):
    """EX1's batch touches only the 26th, EX2's only the 25th; EX1's totals of the 25th are read by
    the same aggregation but left alone. Without rates, no total has a cost (null, not 0)."""
    handler, repository, _ = make(mongo_db)
    handler.process(
        [
            Reading("EX1", DAY0 + 10 * H, 10.0, 100.0),
            Reading("EX1", DAY0 + 12 * H, 11.0, 110.0),
            Reading("EX1", DAY0 + 34 * H, 11.0, 120.0),
            Reading("EX2", DAY0 + 10 * H, 5.0, 50.0),
        ]
    )
    handler.process([Reading("EX1", DAY0 + 36 * H, 12.0, 130.0), Reading("EX2", DAY0 + 12 * H, 6.0, 60.0)])

    def hours(identifier):
        return {g["key"]: g["hours"] for g in repository.search(UsageFilter(identifier=identifier), "day")}

    assert hours("EX1") == {"2025-11-25": 1.0, "2025-11-26": 1.0}
    assert hours("EX2") == {"2025-11-25": 1.0}
    assert {(doc["cost"], doc["unpriced"] == doc["deltas"]) for doc in mongo_db.usage_daily.find()} == {(None, True)}


def test_inserting_entries_some_already_stored_inserts_the_others(mongo_db):
    _, repository, _ = make(mongo_db)
    first, second, third = (too_late_entry(Reading("EX1", DAY0 + i * H, 10.0, 100.0)) for i in range(3))
    assert repository.insert_entries([first, second]) == 2
    assert repository.insert_entries([first, third, second]) == 1  # a replay's entries are left alone
    assert [e["interval_end"] for e in repository.find_entries("EX1", None, None)] == [DAY0, DAY0 + H, DAY0 + 2 * H]
    assert repository.insert_entries([]) == 0


class RecordingCollection:
    """The real collection, recording the size and ``ordered`` of every bulk write."""

    def __init__(self, collection):
        self.collection, self.writes = collection, []

    def bulk_write(self, operations, ordered):
        self.writes.append((len(operations), ordered))
        return self.collection.bulk_write(operations, ordered=ordered)

    def __getattr__(self, attribute):
        return getattr(self.collection, attribute)


def test_a_duplicate_entry_does_not_stop_the_entries_after_it(mongo_db):
    """Ledger inserts are unordered: an entry another consumer stored already (a lost race, a
    replay) must not keep the batch's later entries out of the ledger."""
    handler, repository, _ = make(mongo_db)
    racing = repository.deltas = RacingCollection(repository.deltas, indexes=[0])
    handler.process([Reading("EX1", DAY0 + t * H, 10.0 + t, 100.0 + t) for t in range(3)])
    assert racing.writes[0] == (3, False)
    assert sorted(d["interval_end"] for d in mongo_db.usage_deltas.find()) == [DAY0 + H, DAY0 + 2 * H]


def test_corrections_replace_ledger_entries_in_one_ordered_write(mongo_db):
    """A late reading's corrections are replaced in the order given (an ordered bulk write, as
    ``replace_entries`` promises), after the unordered insert of the new entries."""
    handler, repository, _ = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 2 * H, 12.0, 120.0)])
    recording = repository.deltas = RecordingCollection(repository.deltas)
    handler.process([Reading("EX1", DAY0 + H, 11.0, 110.0)])
    assert recording.writes == [(1, False), (1, True)]


def daily_totals(mongo_db) -> dict[str, dict]:
    return {doc.pop("_id"): doc for doc in mongo_db.usage_daily.find()}


def assert_same_daily(got: dict[str, dict], want: dict[str, dict]) -> None:
    assert got.keys() == want.keys()
    for key, total in want.items():
        for name, value in total.items():
            if name in ("hours", "km", "cost") and value is not None:
                assert got[key][name] == pytest.approx(value, rel=1e-12, abs=1e-9), (key, name)
            else:
                assert got[key][name] == value, (key, name)


def test_daily_totals_added_to_batch_by_batch_equal_those_recomputed_from_the_ledger(mongo_db):
    handler, repository, registry = make(mongo_db)
    registry.store(
        [
            {"identifier": f"EX{m}", "hourly_rate": 7.3 + m, "km_rate": 0.37, "currency": "EUR", "last_update": 0}
            for m in range(0, 5, 2)  # some machines priced, some not
        ]
    )
    readings, rng, start, days = fleet_readings(per_machine=40, seed=5), random.Random(2), 0, set()
    while start < len(readings):
        size = rng.randint(1, 23)
        days |= handler.process(readings[start : start + size]).days
        start += size
    added = daily_totals(mongo_db)
    mongo_db.usage_daily.delete_many({})
    repository.recompute_daily(days)
    assert_same_daily(added, daily_totals(mongo_db))
    assert len(added) > 10 and any(total["cost"] for total in added.values())
    assert any(total["cost"] is None for total in added.values())


def test_entries_added_twice_are_counted_once(mongo_db):
    handler, repository, _ = make(mongo_db)
    outcome = handler.process(fleet_readings(machines=2, per_machine=12))
    once = daily_totals(mongo_db)
    # A replay after a crash between the ledger and the totals: the same entries again.
    assert repository.update_daily(outcome.entries) > 0
    assert_same_daily(daily_totals(mongo_db), once)


def test_a_total_written_before_watermarks_is_recomputed_not_added_to(mongo_db):
    handler, repository, _ = make(mongo_db)
    readings = fleet_readings(machines=1, per_machine=12)
    handler.process(readings[:6])
    mongo_db.usage_daily.update_many({}, {"$unset": {"through": ""}})  # as stored by an earlier version
    handler.process(readings[6:])
    added = daily_totals(mongo_db)
    mongo_db.usage_daily.delete_many({})
    repository.recompute_daily({(r.identifier, day) for r in readings for day in ("2025-11-24", "2025-11-25")})
    assert_same_daily(added, daily_totals(mongo_db))
    assert all("through" in total for total in added.values())


def test_usage_rules_take_every_limit_from_the_settings(settings):
    from equipment_usage.handlers import usage_rules

    settings.USAGE_REPRICE_MAX_AGE_DAYS = 7.5
    settings.USAGE_LATE_READING_MAX_AGE_DAYS = 3.0
    rules = usage_rules()
    assert (rules.reprice_max_age_days, rules.late_max_age_days) == (7.5, 3.0)
