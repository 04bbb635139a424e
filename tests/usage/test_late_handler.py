"""Late readings through UsageHandler and the real repository on the in-process engine (or a real
server with MONGO_URI): any arrival order gives the totals of event order; replays change nothing;
too-late readings are kept and count nothing; the published records, applied by id with
retractions, add up to the same totals."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_usage.business_intervals import apply_readings
from equipment_usage.business_late import in_event_order
from equipment_usage.business_ledger import Entry, Rates, Reading, UsageRules, bare
from equipment_usage.handlers import UsageHandler
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import ConcurrentCorrection
from equipment_usage.repository_registry import EquipmentRegistryRepository
from tests.properties import property_settings
from tests.usage.test_handler import CountingDatabase, RecordingPublisher

H = 3_600_000
MINUTE = 60_000
DAY0 = 1_764_028_800_000  # 2025-11-25T00:00:00Z
RULES = UsageRules(time_zone="Europe/Rome", max_speed_kmh=60.0, hours_tolerance=0.1, km_tolerance=0.5)
RATES = {"identifier": "EX1", "hourly_rate": 10.0, "km_rate": 1.0, "currency": "EUR", "last_update": 0}


def make(database, publisher: RecordingPublisher | None = None, rules: UsageRules = RULES):
    repository, registry = UsageRepository(database), EquipmentRegistryRepository(database)
    repository.ensure_indexes()
    registry.ensure_indexes()
    registry.store([RATES])
    return UsageHandler(repository, registry, publisher or RecordingPublisher(), rules), repository


def clear(database) -> None:
    for name in ("usage_deltas", "usage_daily", "usage_last_readings"):
        database[name].delete_many({})


def expected_totals(readings: list[Reading], rules: UsageRules = RULES) -> dict[tuple[str, str], list[float]]:
    """(date, source) -> [hours, km, cost] of the readings processed in event order (pure rules)."""
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for entry in apply_readings(None, in_event_order(readings), rules, rates).entries:
        for day in entry.days:
            for source in day.sources:
                cell = totals[(day.date, source.source)]
                cell[0] += source.hours or 0.0
                cell[1] += source.km or 0.0
                cell[2] += source.cost or 0.0
    return dict(totals)


def stored_totals(database) -> dict[tuple[str, str], list[float]]:
    return {(d["date"], d["source"]): [d["hours"], d["km"], d["cost"] or 0.0] for d in database.usage_daily.find()}


def applied_by_id(records: list[dict]) -> dict[tuple[str, str], list[float]]:
    """A downstream consumer: keeps the last record of each id, drops the retracted ones, sums."""
    kept: dict[str, dict] = {}
    for record in records:
        if record["retracted"]:
            kept.pop(record["record_id"], None)
        else:
            kept[record["record_id"]] = record
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for record in kept.values():
        for source in record["cost_sources"]:
            cell = totals[(record["date"], source["source"])]
            cell[0] += source["hours"] or 0.0
            cell[1] += source["km"] or 0.0
            cell[2] += source["cost"] or 0.0
    return dict(totals)


def assert_same_totals(got: dict, want: dict) -> None:
    # a source whose parts sum to zero may be absent on one side
    keys = {k for k, v in {**got, **want}.items() if any(abs(x) > 1e-9 for x in v)}
    for key in keys:
        assert got.get(key, [0.0] * 3) == pytest.approx(want.get(key, [0.0] * 3), rel=1e-9, abs=1e-9), key


def ledger(database) -> list[Entry]:
    """The ledger without the correction bookkeeping, which records the arrival history."""
    docs = sorted(database.usage_deltas.find(), key=lambda d: d["interval_end"])
    return [bare(Entry.from_dict(d)) for d in docs]


@st.composite
def machine_readings(draw) -> list[Reading]:
    """2 to 10 distinct readings of one machine over up to a few days: steps across midnights,
    counters that go up, stay, reset, jump implausibly or are missing, a few points of interest."""
    count = draw(st.integers(2, 10))
    ts, hours, km = DAY0 + draw(st.integers(0, 23)) * H, 100.0, 1000.0
    readings = []
    for _ in range(count):
        has_hours, has_km = draw(st.sampled_from([(True, True)] * 4 + [(False, True), (True, False), (False, False)]))
        pois = draw(st.sampled_from([(), ("A",), ("B",), ("A", "B")]))
        readings.append(Reading("EX1", ts, hours if has_hours else None, km if has_km else None, pois))
        step = draw(st.sampled_from([10, 45, 90, 300, 600])) * MINUTE
        ts += step
        hours = draw(st.sampled_from([hours, hours + 0.5 * step / H, hours + 2 * step / H + 1, 1.0]))
        km = draw(st.sampled_from([km, km + 30 * step / H, km + 500.0]))
    return readings


@property_settings(200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings=machine_readings(), data=st.data())
def test_any_arrival_order_gives_the_totals_of_event_order(mongo_db, readings, data):
    extra = data.draw(st.lists(st.sampled_from(readings), max_size=3), label="duplicates")
    arrival = data.draw(st.permutations(readings + extra), label="arrival order")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(arrival) - 1), max_size=4), label="batch boundaries"))
    clear(mongo_db)
    publisher = RecordingPublisher()
    handler, _ = make(mongo_db, publisher)
    for start, end in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
        handler.process(arrival[start:end])

    want = expected_totals(readings)
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(publisher.records), want)
    # the ledger itself is the one event order gives, entry by entry
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    assert ledger(mongo_db) == apply_readings(None, in_event_order(readings), RULES, rates).entries
    newest = in_event_order(readings)[-1].timestamp
    assert mongo_db.usage_last_readings.find_one({"_id": "EX1"})["timestamp"] == newest

    # replaying everything, in another order, changes nothing
    before = (ledger(mongo_db), stored_totals(mongo_db))
    handler.process(list(reversed(arrival)))
    assert (ledger(mongo_db), stored_totals(mongo_db)) == before
    assert_same_totals(applied_by_id(publisher.records), want)


def readings_of(seed: int, count: int = 40) -> list[Reading]:
    rng = random.Random(seed)
    ts, hours, km, readings = DAY0, 10.0, 100.0, []
    for i in range(count):
        readings.append(Reading("EX1", ts, None if i % 7 == 3 else hours, km, (f"site-{i % 3}",)))
        step = rng.choice([20, 40, 95]) * MINUTE
        ts += step
        hours += rng.choice([0.0, 0.5]) * step / H
        km += rng.uniform(0, 30) * step / H
    return readings


def test_two_late_readings_in_one_batch_with_forward_ones_and_a_replay(mongo_db):
    readings = readings_of(1)
    late = [readings[3], readings[20], readings[21]]  # one whose hours are missing; two neighbours
    publisher = RecordingPublisher()
    handler, _ = make(mongo_db, publisher)
    handler.process([r for r in readings[:30] if r not in late])
    outcome = handler.process([*late, *readings[30:]])  # late ones and newer ones in one batch
    assert outcome.late == 3 and outcome.too_late == 0
    assert [e.end.timestamp for e in outcome.corrected] == [readings[22].timestamp, readings[4].timestamp]
    assert all(e.corrected_by is not None and e.replaced is not None for e in outcome.corrected)
    want = expected_totals(readings)
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(publisher.records), want)

    # replaying the late readings changes nothing and republishes the same records
    before = (ledger(mongo_db), stored_totals(mongo_db), list(mongo_db.usage_last_readings.find()))
    published = len(publisher.records)
    replay = handler.process(late)
    assert replay.late == 0 and replay.inserted == 0 and replay.corrected == [] and len(replay.replayed) == 3
    assert (ledger(mongo_db), stored_totals(mongo_db), list(mongo_db.usage_last_readings.find())) == before
    republished = publisher.records[published:]
    assert {r["record_id"] for r in republished} <= {r["record_id"] for r in publisher.records[:published]}
    assert_same_totals(applied_by_id(publisher.records), want)


def test_a_correction_reaching_the_newest_reading_corrects_the_reference(mongo_db):
    handler, repository = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 2 * H, None, 120.0)])
    assert repository.references(["EX1"])["EX1"].hours_at == DAY0
    handler.process([Reading("EX1", DAY0 + H, 11.0, 110.0)])
    reference = repository.references(["EX1"])["EX1"]
    assert (reference.timestamp, reference.hours, reference.hours_at) == (DAY0 + 2 * H, 11.0, DAY0 + H)
    handler.process([Reading("EX1", DAY0 + 3 * H, 12.0, 130.0)])  # 1 h since the late reading's hours
    assert_same_totals(stored_totals(mongo_db), {("2025-11-25", "unassigned"): [2.0, 30.0, 50.0]})


def test_too_late_reading_is_kept_flagged_and_counts_nothing(mongo_db):
    rules = replace(RULES, late_max_age_days=1.0)
    handler, repository = make(mongo_db, rules=rules)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 30 * H, 12.0, 120.0)])
    before = stored_totals(mongo_db)
    outcome = handler.process([Reading("EX1", DAY0 + 5 * H, 11.0, 110.0)])  # 25 h behind: too late
    assert outcome.too_late == 1 and outcome.late == 0 and outcome.corrected == []
    (entry,) = repository.find_entries("EX1", DAY0 + 5 * H, DAY0 + 5 * H)
    assert entry["flags"] == ["too_late"] and entry["counted"] is False and entry["start"] is None
    assert stored_totals(mongo_db) == before
    again = handler.process([Reading("EX1", DAY0 + 5 * H, 11.0, 110.0)])
    assert again.duplicates == 1 and again.too_late == 0 and again.inserted == 0
    # a later late reading in the same interval is spliced around the too-late one, which stays out
    handler.process([Reading("EX1", DAY0 + 7 * H, 11.5, 115.0)])
    entries = repository.find_entries("EX1", None, None)
    assert [(e["interval_start"], e["interval_end"]) for e in entries if "too_late" not in e["flags"]] == [
        (None, DAY0),
        (DAY0, DAY0 + 7 * H),
        (DAY0 + 7 * H, DAY0 + 30 * H),
    ]


class CrashingRepository(UsageRepository):
    """Fault injection: the process dies after inserting a batch's entries, before replacing the
    entries its late readings split."""

    crash = True

    def replace_entries(self, replacements):
        if self.crash and replacements:
            self.crash = False
            raise SystemExit("killed between the two writes")
        return super().replace_entries(replacements)


def test_a_crash_between_insert_and_replace_is_repaired_by_the_replay(mongo_db):
    readings = readings_of(2, count=12)
    repository = CrashingRepository(mongo_db)
    publisher = RecordingPublisher()
    handler = UsageHandler(repository, make(mongo_db)[0].registry, publisher, RULES)
    handler.process(readings[::2])
    late = readings[1::2]
    with pytest.raises(SystemExit):
        handler.process(late)
    handler.process(late)  # the loop replays the uncommitted batch
    want = expected_totals(readings)
    assert_same_totals(stored_totals(mongo_db), want)
    assert_same_totals(applied_by_id(publisher.records), want)
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    assert ledger(mongo_db) == apply_readings(None, readings, RULES, rates).entries


def test_round_trips_of_a_batch_with_late_readings(mongo_db):
    readings = [r for r in readings_of(3) if r.hours is not None]  # no carried counters: no walk
    database = CountingDatabase(mongo_db)
    handler, _ = make(mongo_db)
    handler = UsageHandler(
        UsageRepository(database), EquipmentRegistryRepository(database), RecordingPublisher(), RULES
    )
    late = readings[1:-1:2]
    handler.process([r for r in readings if r not in late])
    database.calls.clear()
    started = time.perf_counter()
    outcome = handler.process(late)  # every one late, each in its own interval
    assert outcome.late == len(late) == len(outcome.corrected) > 10
    assert time.perf_counter() - started < 30
    assert database.calls == [
        "usage_last_readings.find",
        "equipment_registry.find",
        "usage_deltas.find",  # their own entries, successors, corrections: none, so all late
        "usage_deltas.find",  # the intervals that span them
        "usage_deltas.bulk_write",  # insert the late readings' entries
        "usage_deltas.bulk_write",  # replace the split ones
        "equipment_registry.find",  # the rates again
        "usage_deltas.aggregate",
        "usage_daily.bulk_write",
    ]


def test_a_carried_counter_is_walked_forward_a_page_at_a_time_up_to_the_reference(mongo_db):
    """A late reading with hours before 44 stored readings without them: the hours it carries change
    the start of every following entry, read WALK_PAGE (20) at a time, and the machine's reference."""
    readings = [Reading("EX1", DAY0, 10.0, 100.0)]
    readings += [Reading("EX1", DAY0 + i * H, None, 100.0 + 2 * i) for i in range(1, 46)]
    late = Reading("EX1", DAY0 + H // 2, 10.5, 101.0)
    database, publisher = CountingDatabase(mongo_db), RecordingPublisher()
    handler, repository = make(mongo_db)
    handler = UsageHandler(UsageRepository(database), EquipmentRegistryRepository(database), publisher, RULES)
    handler.process(readings)
    database.calls.clear()
    publisher.records.clear()
    outcome = handler.process([late])
    assert outcome.late == 1 and len(outcome.corrected) == 45
    published = sorted(record["record_id"] for record in publisher.records)
    # own entry, the span, then 44 following entries in pages of 20, 20 and 4
    assert database.calls.count("usage_deltas.find") == 5
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    assert ledger(mongo_db) == apply_readings(None, [readings[0], late, *readings[1:]], RULES, rates).entries
    reference = repository.references(["EX1"])["EX1"]
    assert (reference.timestamp, reference.hours, reference.hours_at) == (DAY0 + 45 * H, 10.5, DAY0 + H // 2)
    # a replay of the late reading republishes every entry it corrected, walked ones included
    publisher.records.clear()
    assert handler.process([late]).inserted == 0
    assert sorted(record["record_id"] for record in publisher.records) == published


def test_a_correction_computed_from_an_entry_changed_meanwhile_is_refused(mongo_db):
    """Replacing a ledger entry is a compare-and-swap on the version the correction was computed
    from: if another consumer corrected it first, the batch fails and is retried on fresh state."""
    handler, repository = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 2 * H, 11.0, 110.0)])
    first, second = [Entry.from_dict(doc) for doc in repository.find_entries("EX1", None, None)]
    # meanwhile, late readings split the second interval and move the first reading's entry
    handler.process([Reading("EX1", DAY0 + H, 10.5, 105.0), Reading("EX1", DAY0 - H, 9.5, 95.0)])
    assert repository.replace_entries([]) == 0
    current = Entry.from_dict(repository.find_entries("EX1", DAY0 + H, DAY0 + H)[0])
    for stale in (second, first):  # one with a start, and the first entry (no start)
        before = sorted(mongo_db.usage_deltas.find(), key=lambda doc: doc["_id"])
        with pytest.raises(ConcurrentCorrection, match=r"^1 ledger entries changed meanwhile$"):
            repository.replace_entries([(current, current), (stale, replace(stale, hours=99.0))])
        assert sorted(mongo_db.usage_deltas.find(), key=lambda doc: doc["_id"]) == before


def test_too_late_entries_stay_out_of_spans_and_walks_after_the_max_age_is_raised(mongo_db):
    """A reading stored too late (max age 1 day) lies inside intervals that late readings split
    after the max age was raised to 30 days: it is neither the interval they are spliced into nor
    an entry a carried counter is walked through."""
    p, s, m, n = (
        Reading("EX1", DAY0, 10.0, 100.0),
        Reading("EX1", DAY0 + 2 * H, None, 102.0),
        Reading("EX1", DAY0 + 20 * H, None, 120.0),
        Reading("EX1", DAY0 + 30 * H, 25.0, 130.0),
    )
    too_late = Reading("EX1", DAY0 + 5 * H, 11.5, 105.0)
    x, l2, l1 = (
        Reading("EX1", DAY0 + 25 * H, 20.0, 125.0),
        Reading("EX1", DAY0 + 3 * H, 11.0, 103.0),
        Reading("EX1", DAY0 + H, 10.5, 101.0),
    )
    strict, _ = make(mongo_db, rules=replace(RULES, late_max_age_days=1.0))
    strict.process([p, s, m, n])
    assert strict.process([too_late]).too_late == 1
    handler, repository = make(mongo_db, rules=replace(RULES, late_max_age_days=30.0))
    assert handler.process([x]).late == 1  # stored after N: the walks below must go by time
    assert handler.process([l2]).late == 1  # T (5 h) lies between it and M (20 h)
    assert handler.process([l1]).late == 1  # S lacks hours: carried forward through L2, past T
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    chained = [entry for entry in ledger(mongo_db) if entry.chained]
    assert chained == apply_readings(None, [p, l1, s, l2, m, x, n], RULES, rates).entries
    (kept,) = repository.find_entries("EX1", too_late.timestamp, too_late.timestamp)
    assert (kept["flags"], kept["start"], kept["counted"]) == (["too_late"], None, False)


def test_a_late_reading_with_nothing_stored_around_it_is_kept_as_too_late(mongo_db):
    handler, repository = make(mongo_db)
    handler.process([Reading("EX1", DAY0 + t * H, 10.0 + t / 2, 100.0 + t) for t in (0, 2, 4)])
    mongo_db.usage_deltas.delete_many({"interval_end": {"$lt": DAY0 + 3 * H}})  # the older ledger was pruned
    outcome = handler.process([Reading("EX1", DAY0 + H, 10.5, 101.0), Reading("EX1", DAY0 + 3 * H, 11.5, 103.0)])
    assert (outcome.late, outcome.too_late, outcome.inserted) == (1, 1, 2)  # the second is still spliced in
    entries = repository.find_entries("EX1", None, None)
    assert [(e["interval_start"], e["interval_end"], e["flags"]) for e in entries] == [
        (None, DAY0 + H, ["too_late"]),
        (DAY0 + 2 * H, DAY0 + 3 * H, []),
        (DAY0 + 3 * H, DAY0 + 4 * H, []),
    ]


def test_a_replay_after_a_crash_with_an_older_late_reading_in_the_same_interval(mongo_db):
    """B was spliced in and the process died before the split entry was replaced; the replay of B
    comes with A, older, in the same interval: A goes before B, B is finished, in event order."""
    p, a, b, s = (
        Reading("EX1", DAY0, 10.0, 100.0),
        Reading("EX1", DAY0 + H, 10.5, 105.0),
        Reading("EX1", DAY0 + 2 * H, 11.0, 110.0),
        Reading("EX1", DAY0 + 3 * H, 11.5, 115.0),
    )
    repository = CrashingRepository(mongo_db)
    handler = UsageHandler(repository, make(mongo_db)[0].registry, RecordingPublisher(), RULES)
    handler.process([p, s])
    with pytest.raises(SystemExit):
        handler.process([b])
    outcome = handler.process([a, b])
    assert outcome.late == 2
    rates = [Rates(0, RATES["hourly_rate"], RATES["km_rate"], "EUR")]
    assert ledger(mongo_db) == apply_readings(None, [p, a, b, s], RULES, rates).entries
    assert_same_totals(stored_totals(mongo_db), expected_totals([p, a, b, s]))


def test_an_entry_corrected_twice_keeps_only_the_version_it_replaced(mongo_db):
    handler, repository = make(mongo_db)
    handler.process([Reading("EX1", DAY0, 10.0, 100.0), Reading("EX1", DAY0 + 3 * H, 11.5, 115.0)])
    handler.process([Reading("EX1", DAY0 + H, 10.5, 105.0)])
    handler.process([Reading("EX1", DAY0 + 2 * H, 11.0, 110.0)])
    (doc,) = repository.find_entries("EX1", DAY0 + 3 * H, DAY0 + 3 * H)
    entry = Entry.from_dict(doc)
    assert (entry.start.timestamp, entry.corrected_by) == (DAY0 + 2 * H, DAY0 + 2 * H)
    # Stored like any entry, plus corrected_by (absent, not null, on uncorrected entries: partial index).
    assert set(doc) == set(repository.find_entries("EX1", DAY0, DAY0)[0]) | {"corrected_by"}
    replaced = entry.replaced  # the version from the first correction, without its own history
    assert (replaced.start.timestamp, replaced.replaced, replaced.corrected_by) == (DAY0 + H, None, None)


def test_totals_a_late_reading_leaves_without_parts_are_deleted(mongo_db):
    """P -> S counted on two days for P's point of interest A. A late reading L moves the rest of
    the interval to its own point of interest B, then (second case) makes it count nothing: the
    totals that have no parts left go, on a day that keeps others and on a day left with none."""
    p, s = Reading("EX1", DAY0 - 2 * H, 10.0, 100.0, ("A",)), Reading("EX1", DAY0 + 2 * H, 14.0, 300.0)
    for late, left in (
        (
            Reading("EX1", DAY0 - H, 11.0, 150.0, ("B",)),
            {("2025-11-24", "A"), ("2025-11-24", "B"), ("2025-11-25", "B")},
        ),
        (Reading("EX1", DAY0 - H, 10.0, 100.0, ("B",)), {("2025-11-24", "A")}),  # L -> S implausible
    ):
        clear(mongo_db)
        handler, _ = make(mongo_db, rules=replace(RULES, time_zone="UTC"))
        handler.process([p, s])
        assert set(stored_totals(mongo_db)) == {("2025-11-24", "A"), ("2025-11-25", "A")}
        handler.process([late])
        assert set(stored_totals(mongo_db)) == left
        assert_same_totals(stored_totals(mongo_db), expected_totals([p, late, s], replace(RULES, time_zone="UTC")))


def test_a_batch_outcome_counts_every_machine(mongo_db):
    """Duplicates, too-late and late readings of several machines in one batch all add up."""
    handler, _ = make(mongo_db, rules=replace(RULES, late_max_age_days=1.0))

    def reading(identifier, hours):
        return Reading(identifier, DAY0 + int(hours * H), 10.0 + hours / 100, 100.0)

    handler.process([reading(m, t) for m in ("EX1", "EX2") for t in (0, 30)] + [reading("EX3", 10), reading("EX3", 12)])
    handler.process([reading("EX1", 2), reading("EX2", 2)])  # too late (older than 30 h - 24 h)
    mongo_db.usage_deltas.delete_many({"identifier": "EX3"})  # EX3's ledger was pruned
    batch = [reading(m, t) for m in ("EX1", "EX2") for t in (31, 31, 2, 3, 20)] + [reading("EX3", 11)]
    outcome = handler.process(batch)
    # per machine: 31 h twice (1 duplicate), 2 h again (1 duplicate, too late already), 3 h too late,
    # 20 h late; EX3's 11 h late with nothing stored around it: too late
    assert (outcome.duplicates, outcome.too_late, outcome.late) == (4, 3, 2)


class RecordingFinds:
    """The real ledger collection; records the filter of every ``find``."""

    def __init__(self, collection):
        self.collection, self.filters = collection, []

    def find(self, query, *args, **kwargs):
        self.filters.append(query)
        return self.collection.find(query, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.collection, name)


def test_the_spanning_lookup_asks_for_the_late_machines_entries_only(mongo_db):
    handler, repository = make(mongo_db)
    first = [Reading(m, DAY0 + i * H, 10.0 + i, 100.0 + i) for m in ("EX1", "EX2") for i in (0, 2, 4)]
    handler.process(first)
    recording = repository.deltas = RecordingFinds(repository.deltas)
    behind = repository.behind_entries({"EX1": [DAY0 + 2 * H], "EX2": []})
    assert sorted(behind) == ["EX1|" + str(DAY0 + 2 * H), "EX1|" + str(DAY0 + 4 * H)]  # own, successor
    assert recording.filters.pop()["identifier"] == {"$in": ["EX1"]}
    spans = repository.spanning_entries({"EX1": [DAY0 + H, DAY0 + 3 * H], "EX2": [DAY0 - H]})
    assert [(s.identifier, s.start and s.start.timestamp, s.end.timestamp) for s in spans] == [
        ("EX1", DAY0, DAY0 + 2 * H),
        ("EX1", DAY0 + 2 * H, DAY0 + 4 * H),
        ("EX2", None, DAY0),  # older than every stored reading: the machine's first entry
    ]
    # One query, the machines outside the $or: the embedded engine plans it by those machines'
    # entries (it cannot plan an $or); on MongoDB each clause is a range of one machine's index.
    [query] = recording.filters
    assert query["identifier"] == {"$in": ["EX1", "EX2"]}
    assert [clause["identifier"] for clause in query["$or"]] == ["EX1"] * 4 + ["EX2"] * 2
