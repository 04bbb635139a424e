"""Rate changes that arrive after the usage they price, through the real handlers and repository on
the in-process engine: the registry consumer re-prices what each version now governs, the usage
consumer re-prices its batch when the rates changed meanwhile; in any arrival order of readings and
versions the ledger, the daily totals and the usage topic applied by id equal event order's."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_usage.business_daily import usage_records
from equipment_usage.business_intervals import apply_readings
from equipment_usage.business_late import in_event_order
from equipment_usage.business_ledger import Entry, Rates, Reading, bare
from equipment_usage.handlers import UsageHandler
from equipment_usage.handlers_registry import EquipmentRegistryHandler
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import ConcurrentCorrection
from equipment_usage.repository_registry import EquipmentRegistryRepository
from tests.properties import property_settings
from tests.usage.test_handler import CountingDatabase, RecordingPublisher
from tests.usage.test_late_handler import (
    DAY0,
    RULES,
    H,
    applied_by_id,
    assert_same_totals,
    clear,
    machine_readings,
    stored_totals,
)

NOW_MS = 1_800_000_000_000


def version(last_update: int, hourly: float | None, per_km: float | None = 1.0, currency: str = "EUR") -> dict:
    return {
        "identifier": "EX1",
        "serial_number": "SN-1",
        "last_update": last_update,
        "hourly_rate": hourly,
        "km_rate": per_km,
        "currency": currency,
    }


def rates_of(records: list[dict]) -> list[Rates]:
    latest = {r["last_update"]: r for r in records}
    return [Rates(r["last_update"], r["hourly_rate"], r["km_rate"], r["currency"]) for r in latest.values()]


class Stack:
    """Both consumers' handlers on one store and one recording publisher (the usage topic)."""

    def __init__(self, database, rules=RULES, registry_database=None, usage_database=None):
        self.usage_repository = UsageRepository(usage_database or database)
        self.registry_repository = EquipmentRegistryRepository(registry_database or database)
        UsageRepository(database).ensure_indexes()
        EquipmentRegistryRepository(database).ensure_indexes()
        self.publisher = RecordingPublisher()
        self.usage = UsageHandler(self.usage_repository, self.registry_repository, self.publisher, rules)
        self.registry = EquipmentRegistryHandler(
            self.registry_repository, self.usage_repository, self.publisher, rules, clock=lambda: NOW_MS / 1000
        )


def expected(readings: list[Reading], records: list[dict], rules=RULES) -> list[Entry]:
    return apply_readings(None, in_event_order(readings), rules, rates_of(records)).entries


def totals_of(entries: list[Entry]) -> dict[tuple[str, str], list[float]]:
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for entry in entries:
        for day in entry.days:
            for source in day.sources:
                cell = totals[(day.date, source.source)]
                cell[0] += source.hours or 0.0
                cell[1] += source.km or 0.0
                cell[2] += source.cost or 0.0
    return dict(totals)


def priced_ledger(database) -> list[Entry]:
    """The ledger without bookkeeping; ``rates`` too: an entry whose price a version does not change
    (no usage, or the same rates) keeps naming the version that priced it first."""
    docs = sorted(database.usage_deltas.find(), key=lambda d: d["interval_end"])
    return [replace(bare(Entry.from_dict(d)), rates=None) for d in docs]


def without_rates(entries: list[Entry]) -> list[Entry]:
    return [replace(entry, rates=None) for entry in entries]


def hourly_readings(count: int = 12, start: int = DAY0) -> list[Reading]:
    """One machine, a reading every 3 hours (across midnights), 2 hours and 30 km each interval."""
    return [Reading("EX1", start + 3 * i * H, 100.0 + 2 * i, 1000.0 + 30 * i, ("A",)) for i in range(count)]


def test_a_backdated_version_reprices_exactly_the_intervals_it_now_governs(mongo_db):
    stack = Stack(mongo_db)
    readings = hourly_readings()
    first, later, backdated = version(DAY0 - H, 10.0), version(DAY0 + 24 * H, 40.0), version(DAY0 + 12 * H, 20.0)
    stack.registry.process([first, later])
    stack.usage.process(readings)
    before = {doc["_id"]: Entry.from_dict(doc) for doc in mongo_db.usage_deltas.find()}
    published = len(stack.publisher.records)

    outcome = stack.registry.process([backdated])  # governs starts in [12 h, 24 h)
    starts = sorted(entry.start.timestamp for entry in outcome.repriced)
    assert starts == [DAY0 + 12 * H, DAY0 + 15 * H, DAY0 + 18 * H, DAY0 + 21 * H]
    assert all(e.repriced_by == "EX1|" + str(DAY0 + 12 * H) for e in outcome.repriced)
    assert outcome.republished == [] and outcome.refused == []
    for entry in outcome.repriced:
        assert entry.replaced == bare(before[entry.id]) and entry.rates == Rates(DAY0 + 12 * H, 20.0, 1.0, "EUR")
    untouched = {e.id for e in before.values()} - {e.id for e in outcome.repriced}
    after = {doc["_id"]: Entry.from_dict(doc) for doc in mongo_db.usage_deltas.find()}
    assert all(after[i] == before[i] for i in untouched)

    # the topic: for each re-priced record its id retracted with the old amount, then the new one
    new_records = stack.publisher.records[published:]
    for entry in outcome.repriced:
        old, new = usage_records(before[entry.id], retracted=True), usage_records(entry)
        assert [r["record_id"] for r in old] == [r["record_id"] for r in new]
        mine = [r for r in new_records if r["record_id"] in {x["record_id"] for x in new}]
        assert mine == old + new
    records = [version(DAY0 - H, 10.0), later, backdated]
    assert priced_ledger(mongo_db) == without_rates(bare(e) for e in expected(readings, records))
    assert_same_totals(stored_totals(mongo_db), totals_of(expected(readings, records)))
    assert_same_totals(applied_by_id(stack.publisher.records), totals_of(expected(readings, records)))

    # the report the ops view reads
    (report,) = list(mongo_db.usage_repricings.find())
    assert report == {
        "_id": f"EX1|{DAY0 + 12 * H}",
        "identifier": "EX1",
        "last_update": DAY0 + 12 * H,
        "hourly_rate": 20.0,
        "km_rate": 1.0,
        "currency": "EUR",
        "governs_from": DAY0 + 12 * H,
        "governs_to": DAY0 + 24 * H,
        "refused_before": None,
        "entries": 4,
        "days": 2,  # Europe/Rome: the 21 h interval ends past local midnight
        "logged_at": NOW_MS,
    }

    # replaying the registry topic changes nothing: the versions are flagged re-priced, one read
    ledger_before, totals_before = list(mongo_db.usage_deltas.find()), stored_totals(mongo_db)
    registry_before = list(mongo_db.equipment_registry.find())
    assert all(doc["repriced"] for doc in registry_before)
    published = len(stack.publisher.records)
    database = CountingDatabase(mongo_db)
    replaying = EquipmentRegistryHandler(
        EquipmentRegistryRepository(database), UsageRepository(database), stack.publisher, RULES
    )
    replay = replaying.process([first, later, backdated])
    assert (replay.repriced, replay.republished, database.calls) == ([], [], ["equipment_registry.find"])
    assert list(mongo_db.usage_deltas.find()) == ledger_before and stored_totals(mongo_db) == totals_before
    assert list(mongo_db.equipment_registry.find()) == registry_before
    assert len(stack.publisher.records) == published and mongo_db.usage_repricings.count_documents({}) == 1
    # a record that changes no price field (a new serial number) is stored and stays settled
    replay = replaying.process([{**backdated, "serial_number": "SN-2"}])
    assert replay.repriced == [] and len(stack.publisher.records) == published
    stored = mongo_db.equipment_registry.find_one({"_id": f"EX1|{DAY0 + 12 * H}"})
    assert (stored["serial_number"], stored["repriced"]) == ("SN-2", True)


def test_a_changed_rate_and_a_version_filling_a_gap(mongo_db):
    stack = Stack(mongo_db)
    readings = hourly_readings(6)
    stack.registry.process([version(DAY0 + 6 * H, 10.0)])
    stack.usage.process(readings)
    unpriced = [doc for doc in mongo_db.usage_deltas.find({"counted": True}) if not doc["priced"]]
    assert [doc["interval_start"] for doc in unpriced] == [DAY0, DAY0 + 3 * H]  # before any version
    filled = stack.registry.process([version(DAY0 - 24 * H, 5.0)])  # the gap
    assert sorted(e.start.timestamp for e in filled.repriced) == [DAY0, DAY0 + 3 * H]
    assert all(e.replaced.priced is False and e.priced for e in filled.repriced)
    changed = stack.registry.process([version(DAY0 + 6 * H, 12.0, 2.0)])  # same key, new rates
    assert sorted(e.start.timestamp for e in changed.repriced) == [DAY0 + 6 * H, DAY0 + 9 * H, DAY0 + 12 * H]
    records = [version(DAY0 - 24 * H, 5.0), version(DAY0 + 6 * H, 12.0, 2.0)]
    want = totals_of(expected(readings, records))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)
    assert [d["cost"] for d in mongo_db.usage_daily.find()] == [pytest.approx(2 * 5 * 2 + 60 + 3 * (24 + 60))]
    # the last record of a key in a batch wins, as in the topic
    again = stack.registry.process([version(DAY0 + 6 * H, 99.0), version(DAY0 + 6 * H, 12.0, 2.0)])
    assert again.repriced == []


def test_a_change_older_than_the_horizon_is_stored_and_reported_not_applied(mongo_db):
    rules = replace(RULES, reprice_max_age_days=1.0)
    stack = Stack(mongo_db, rules)
    readings = hourly_readings(16)  # 0 h .. 45 h: the horizon is 45 h - 24 h = 21 h
    stack.registry.process([version(DAY0 - H, 10.0), version(DAY0 + 12 * H, 10.0)])
    stack.usage.process(readings)
    old = stack.registry.process([version(DAY0 + 3 * H, 30.0, currency="EUR"), version(DAY0 + 9 * H, 40.0)])
    assert old.repriced == [] and [s.refused_before for s in old.refused] == [DAY0 + 21 * H] * 2
    straddling = stack.registry.process([version(DAY0 + 15 * H, 50.0)])  # governs 15 h onwards
    assert [s.refused_before for s in straddling.refused] == [DAY0 + 21 * H]
    assert sorted(e.start.timestamp for e in straddling.repriced) == [
        DAY0 + t * H for t in (21, 24, 27, 30, 33, 36, 39, 42)
    ]
    stored = {d["interval_start"]: d["rates"] for d in mongo_db.usage_deltas.find({"counted": True})}
    assert stored[DAY0 + 18 * H]["hourly_rate"] == 10.0 and stored[DAY0 + 21 * H]["hourly_rate"] == 50.0
    reports = {r["_id"]: r for r in mongo_db.usage_repricings.find()}
    assert {key: (r["refused_before"], r["entries"]) for key, r in reports.items()} == {
        f"EX1|{DAY0 + 3 * H}": (DAY0 + 21 * H, 0),
        f"EX1|{DAY0 + 9 * H}": (DAY0 + 21 * H, 0),
        f"EX1|{DAY0 + 15 * H}": (DAY0 + 21 * H, 8),
    }
    assert mongo_db.equipment_registry.count_documents({}) == 5  # every version is stored
    # a machine with no usage yet has nothing to re-price nor refuse
    assert stack.registry.process([{**version(0, 1.0), "identifier": "EX9"}]).scopes == []


class StoringMeanwhile(EquipmentRegistryRepository):
    """The registry consumer stores a version (and runs its re-pricing pass, which finds nothing
    yet) right after the usage consumer read the rates, before it wrote its entries."""

    def __init__(self, database, registry: EquipmentRegistryHandler, record: dict):
        super().__init__(database)
        self.registry, self.record, self.reads = registry, record, 0

    def rates(self, identifiers):
        found = super().rates(identifiers)
        self.reads += 1
        if self.reads == 1:
            assert self.registry.process([self.record]).repriced == []
        return found


def test_a_version_stored_while_the_usage_consumer_computed_reprices_its_batch(mongo_db):
    stack = Stack(mongo_db)
    stack.registry.process([version(DAY0 - H, 10.0)])
    readings = hourly_readings(6)
    stack.usage.process(readings[:1])
    backdated = version(DAY0 + H, 30.0)
    racing = StoringMeanwhile(mongo_db, stack.registry, backdated)
    handler = UsageHandler(stack.usage_repository, racing, stack.publisher, RULES)
    outcome = handler.process(readings[1:])
    assert racing.reads == 2 and len(outcome.repriced) == 4  # the intervals from 3 h on
    want = totals_of(expected(readings, [version(DAY0 - H, 10.0), backdated]))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)


def test_a_replay_whose_inserts_met_stale_entries_reprices_them(mongo_db):
    """A crash after the ledger insert, before the references write; a version stored meanwhile
    whose pass missed those entries: the replay's inserts are ignored, so it reads them back."""
    stack = Stack(mongo_db)
    stack.registry.process([version(DAY0 - H, 10.0)])
    readings = hourly_readings(4)
    stack.usage.process(readings[:1])
    stack.usage.repository.insert_entries(
        apply_readings(
            stack.usage_repository.references(["EX1"])["EX1"], readings[1:], RULES, rates_of([version(DAY0 - H, 10.0)])
        ).entries
    )
    stack.registry_repository.store([version(DAY0, 20.0)])  # stored; its pass never ran
    outcome = stack.usage.process(readings[1:])
    assert outcome.inserted == 0 and len(outcome.repriced) == 3
    want = totals_of(expected(readings, [version(DAY0 - H, 10.0), version(DAY0, 20.0)]))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)


class CrashingPublisher(RecordingPublisher):
    """The process dies after the ledger and the totals are written, before delivery."""

    crash = True

    def publish(self, records):
        if self.crash and records:
            self.crash = False
            raise SystemExit("killed before the records were delivered")
        return super().publish(records)


def test_a_crash_before_publishing_is_republished_by_the_replay(mongo_db):
    stack = Stack(mongo_db)
    readings = hourly_readings(8)
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(readings)
    crashing = CrashingPublisher()
    crashing.records = stack.publisher.records
    registry = EquipmentRegistryHandler(stack.registry_repository, stack.usage_repository, crashing, RULES)
    with pytest.raises(SystemExit):
        registry.process([version(DAY0 + 6 * H, 30.0)])
    replay = registry.process([version(DAY0 + 6 * H, 30.0)])  # the loop replays the uncommitted batch
    assert replay.repriced == [] and len(replay.republished) == 5
    want = totals_of(expected(readings, [version(DAY0 - H, 10.0), version(DAY0 + 6 * H, 30.0)]))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)


class InterferingUsage(UsageRepository):
    """Another writer re-prices an entry between this re-pricing's read and its write, ``times`` times."""

    def __init__(self, database, times: int):
        super().__init__(database)
        self.times = times

    def write_repriced(self, replacements):
        replacements = list(replacements)
        if self.times:
            self.times -= 1
            old, _ = replacements[0]
            self.deltas.update_one({"_id": old.id}, {"$set": {"rates.hourly_rate": -1.0 - self.times}})
        return super().write_repriced(replacements)


def test_a_swap_lost_to_another_writer_is_retried_on_fresh_state_and_gives_up_after_five(mongo_db):
    stack = Stack(mongo_db)
    readings = hourly_readings(5)
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(readings)
    database = CountingDatabase(mongo_db)
    registry = EquipmentRegistryHandler(
        EquipmentRegistryRepository(database), InterferingUsage(database, 1), stack.publisher, RULES
    )
    outcome = registry.process([version(DAY0, 20.0)])
    assert len(outcome.repriced) == 4 and outcome.republished == []
    assert database.calls.count("usage_deltas.bulk_write") == 2
    want = totals_of(expected(readings, [version(DAY0 - H, 10.0), version(DAY0, 20.0)]))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)
    stubborn = EquipmentRegistryHandler(
        stack.registry_repository, InterferingUsage(mongo_db, 6), stack.publisher, RULES
    )
    with pytest.raises(ConcurrentCorrection, match="re-pricing lost 5 rounds"):
        stubborn.process([version(DAY0, 25.0)])


def test_round_trips_of_a_registry_batch(mongo_db):
    stack = Stack(mongo_db)
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(hourly_readings(30))
    database = CountingDatabase(mongo_db)
    registry = EquipmentRegistryHandler(
        EquipmentRegistryRepository(database), UsageRepository(database), stack.publisher, RULES, clock=lambda: 0
    )
    outcome = registry.process([version(DAY0 + t * H, 10.0 + t) for t in (3, 30, 60)])
    assert len(outcome.repriced) == 28
    assert database.calls == [
        "equipment_registry.find",  # the stored versions: settled ones need nothing more
        "equipment_registry.bulk_write",
        "usage_last_readings.find",
        "equipment_registry.find",
        "usage_deltas.find",  # every range the versions govern, and what they re-priced before
        "usage_deltas.bulk_write",
        "usage_repricings.bulk_write",
        "usage_deltas.aggregate",
        "usage_daily.bulk_write",
        "equipment_registry.bulk_write",  # flag them re-priced, after delivery
    ]


@st.composite
def registry_versions(draw) -> list[dict]:
    """1 to 3 versions between a day before and two days after the readings start, distinct rates."""
    times = draw(st.lists(st.integers(-24, 48), min_size=1, max_size=3, unique=True))
    return [
        version(
            DAY0 + t * H, 10.0 + 7 * i, draw(st.sampled_from([None, 1.0 + i])), draw(st.sampled_from(["EUR", "CHF"]))
        )
        for i, t in enumerate(times)
    ]


# CI: 100 examples (~4 s); REPRICING_EXAMPLES=1000 for a longer run.
EXAMPLES = int(os.environ.get("REPRICING_EXAMPLES", 100))


@property_settings(EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings=machine_readings(), records=registry_versions(), data=st.data())
def test_any_arrival_order_of_readings_and_versions_gives_event_order(mongo_db, readings, records, data):
    items = [("reading", r) for r in readings] + [("version", r) for r in records]
    arrival = data.draw(st.permutations(items), label="arrival order")
    cuts = set(data.draw(st.sets(st.integers(1, len(arrival) - 1), max_size=4), label="batch boundaries"))
    clear(mongo_db)
    for name in ("equipment_registry", "usage_repricings"):
        mongo_db[name].delete_many({})
    stack = Stack(mongo_db)
    batch: list = []
    for index, (kind, item) in enumerate(arrival):
        batch.append(item)
        last = index == len(arrival) - 1
        if last or index + 1 in cuts or arrival[index + 1][0] != kind:
            (stack.usage.process if kind == "reading" else stack.registry.process)(batch)
            batch = []

    want = expected(readings, records)
    assert priced_ledger(mongo_db) == without_rates([bare(e) for e in want])
    assert_same_totals(stored_totals(mongo_db), totals_of(want))
    assert_same_totals(applied_by_id(stack.publisher.records), totals_of(want))

    # replaying both topics, in another order, changes nothing
    before = (priced_ledger(mongo_db), stored_totals(mongo_db))
    stack.registry.process(list(reversed(records)))
    stack.usage.process(list(reversed(readings)))
    assert (priced_ledger(mongo_db), stored_totals(mongo_db)) == before
    assert_same_totals(applied_by_id(stack.publisher.records), totals_of(want))


def test_the_usage_consumer_reprices_no_further_back_than_the_horizon_either(mongo_db):
    """A replay of readings whose entries a version stored without its pass (a crash) prices
    differently: the usage consumer re-prices those from 21 h on (45 h - 1 day), not the older ones."""
    rules = replace(RULES, reprice_max_age_days=1.0)
    stack = Stack(mongo_db, rules)
    readings = hourly_readings(16)
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(readings)
    stack.registry_repository.store([version(DAY0 + 3 * H, 30.0)])
    outcome = stack.usage.process(readings)  # a replay
    assert len(outcome.replayed) == 16
    assert sorted(e.start.timestamp for e in outcome.repriced) == [DAY0 + t * H for t in range(21, 45, 3)]
    costs = {d["interval_start"]: d["rates"]["hourly_rate"] for d in mongo_db.usage_deltas.find({"counted": True})}
    assert {t: costs[DAY0 + t * H] for t in (18, 21)} == {18: 10.0, 21: 30.0}


def test_a_replay_after_the_horizon_moved_still_republishes_what_the_crashed_run_repriced(mongo_db):
    """The run re-priced 30 h .. 42 h and died before delivering; then telemetry moved the horizon
    (1 day before the newest reading) past those entries: the replay's range no longer holds them,
    its lookup by ``repriced_by`` does, so their records still reach the topic."""
    rules = replace(RULES, reprice_max_age_days=1.0)
    stack = Stack(mongo_db, rules)
    readings = hourly_readings(32)  # 0 h .. 93 h
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(readings[:16])  # 0 h .. 45 h
    crashing = CrashingPublisher()
    crashing.records = stack.publisher.records
    registry = EquipmentRegistryHandler(stack.registry_repository, stack.usage_repository, crashing, rules)
    with pytest.raises(SystemExit):
        registry.process([version(DAY0 + 30 * H, 30.0)])
    stack.usage.process(readings[16:])  # the newest reading is 93 h now: the horizon is 69 h
    replay = registry.process([version(DAY0 + 30 * H, 30.0)])
    assert replay.repriced == []
    assert [e.start.timestamp for e in replay.republished] == [DAY0 + t * H for t in (30, 33, 36, 39, 42)]
    want = totals_of(expected(readings, [version(DAY0 - H, 10.0), version(DAY0 + 30 * H, 30.0)], rules))
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(stack.publisher.records), want)


def test_each_version_of_a_batch_is_reported_on_its_own(mongo_db):
    stack = Stack(mongo_db)
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(hourly_readings(8))
    same, dearer = version(DAY0 + 3 * H, 10.0), version(DAY0 + 12 * H, 20.0)  # the first changes no price
    outcome = stack.registry.process([same, dearer])
    assert [scope.key for scope in outcome.scopes] == [f"EX1|{DAY0 + 3 * H}", f"EX1|{DAY0 + 12 * H}"]
    assert [(r["_id"], r["entries"]) for r in mongo_db.usage_repricings.find()] == [(f"EX1|{DAY0 + 12 * H}", 3)]


def test_repository_writes_of_the_repricing(mongo_db):
    stack = Stack(mongo_db)
    usage, registry = stack.usage_repository, stack.registry_repository
    assert (usage.write_repriced([]), usage.record_repricings({}), registry.mark_repriced([])) == (0, 0, 0)
    stack.usage.process(hourly_readings(3))  # no version yet: unpriced, rates null
    stored = [Entry.from_dict(doc) for doc in mongo_db.usage_deltas.find({"counted": True})]
    assert all(entry.rates is None and not entry.priced for entry in stored)
    mongo_db.usage_deltas.update_one({"_id": stored[0].id}, {"$set": {"rates": {"hourly_rate": 1.0}}})
    priced = [(entry, replace(entry, priced=True)) for entry in stored]
    assert usage.write_repriced(priced) == 1  # the first was priced meanwhile: its swap fails
    registry.store([version(1, 10.0), version(2, 20.0), {**version(3, 30.0), "identifier": "EX2"}])
    assert sorted(registry.stored_versions(["EX1|1", "EX2|3", "EX1|9"])) == ["EX1|1", "EX2|3"]
    usage.record_repricings({f"EX1|{t}": {"identifier": "EX1", "logged_at": t} for t in (5, 7, 6)})
    assert [doc["_id"] for doc in usage.find_repricings(2)] == ["EX1|7", "EX1|6"]
