"""The consumer's handler over the in-process database: any arrival order and batching gives the
rows of a full recompute; a replay publishes nothing; a late reading re-publishes its day once;
a kill between any two steps of a batch loses and doubles nothing once the batch is replayed."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_utilisation.business import UtilisationRules, sample_from_record
from equipment_utilisation.business_rows import recompute_rows
from equipment_utilisation.handlers import UtilisationHandler
from equipment_utilisation.repository import UtilisationRepository
from telemetry_site.databases import open_database
from tests.properties import property_settings
from tests.utilisation.fleet import HOUR_MS, MINUTE_MS, Trace, ms
from tests.utilisation.test_business import CONFIG

RULES = UtilisationRules()
FIGURES = ("site", "engine_hours", "available_hours", "fuel_l", "hours", "idle_runs", "machine_class", "zone")


class RecordingPublisher:
    """A fake of ``UtilisationPublisher``: keeps what it was given (the broker tests use the real one)."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def open(self) -> None:
        pass

    def publish(self, rows: list[dict]) -> int:
        self.published.extend(dict(row) for row in rows)
        return len(rows)


class Killed(Exception):
    """Stands for the process dying at that point: nothing after it happens."""


class KillingRepository(UtilisationRepository):
    """The real repository that dies once, just before ``step``."""

    def __init__(self, database, step: str) -> None:
        super().__init__(database)
        self.step = step

    def __getattribute__(self, name):
        if name == object.__getattribute__(self, "step"):
            object.__setattr__(self, "step", None)
            raise Killed(name)
        return object.__getattribute__(self, name)


def handler(database, publisher=None, repository=None) -> UtilisationHandler:
    return UtilisationHandler(
        repository or UtilisationRepository(database), publisher or RecordingPublisher(), CONFIG, RULES
    )


def two_days() -> list[dict]:
    """An excavator and a dumper over two days: work, idle, off, a night."""
    records = []
    for machine, model in (("EX1", "320"), ("DT1", "B30E")):
        trace = Trace(machine, model, ms("2026-03-10 07:00"), step_ms=10 * MINUTE_MS)
        for _ in range(2):
            trace.run("work", 2 * HOUR_MS).run("idle", 40 * MINUTE_MS, step_ms=4 * MINUTE_MS).run("work", 3 * HOUR_MS)
            trace.run("off", 18 * HOUR_MS + 20 * MINUTE_MS, step_ms=30 * MINUTE_MS)
        records += trace.readings
    return records


def expected(records: list[dict]) -> dict[str, dict]:
    by_machine: dict[str, list] = {}
    models = {}
    for record in records:
        by_machine.setdefault(record["identifier"], []).append(sample_from_record(record))
        models[record["identifier"]] = record["description"]["model"]
    return {
        row["_id"]: row
        for machine, samples in by_machine.items()
        for row in recompute_rows(machine, models[machine], samples, CONFIG, RULES)
    }


def stored(database) -> dict[str, dict]:
    return {row["_id"]: row for row in database["utilisation_days"].find()}


def assert_rows_equal(database, records):
    want, got = expected(records), stored(database)
    assert set(got) == set(want)
    for key, row in want.items():
        assert {name: got[key][name] for name in FIGURES} == {name: row[name] for name in FIGURES}, key
    # The month rollup the API reads says the same.
    rollup = {f"{r['machine']}|{r['date']}": r for r in UtilisationRepository(database).rows_between("0000", "9999")}
    assert set(rollup) == set(want)
    for key, row in want.items():
        assert {name: rollup[key][name] for name in FIGURES} == {name: row[name] for name in FIGURES}, key


def batches(records: list[dict], sizes: list[int]) -> list[list[dict]]:
    out, start = [], 0
    for size in sizes:
        out.append(records[start : start + size])
        start += size
    out.append(records[start:])
    return [batch for batch in out if batch]


@property_settings(15, deadline=None)
@given(seed=st.integers(0, 10_000), sizes=st.lists(st.integers(1, 80), max_size=8))
def test_any_arrival_order_and_batching_gives_the_full_recompute_and_a_replay_changes_nothing(seed, sizes):
    mongo_db = open_database("mongomock://", f"utilisation_{uuid.uuid4().hex[:8]}")  # fresh per example
    records = two_days()
    random.Random(seed).shuffle(records)
    publisher = RecordingPublisher()
    consumer = handler(mongo_db, publisher)
    for batch in batches(records, sizes):
        consumer.process(batch)
    assert_rows_equal(mongo_db, records)
    published = len(publisher.published)
    assert {(row["_id"], row["version"]) for row in publisher.published} == {
        (row["_id"], version) for row in stored(mongo_db).values() for version in range(1, row["version"] + 1)
    }  # every version published, once
    consumer.process(records)  # a replay of everything
    assert len(publisher.published) == published


def test_a_late_reading_for_yesterday_republishes_yesterday_once_and_equals_a_full_recompute(mongo_db):
    """Yesterday 10:00-12:00 had no reading (two hours of no data); the box's buffered 11:00 reading
    arrives today, after today's readings."""
    trace = Trace("DT1", "B30E", ms("2026-03-10 08:00"), step_ms=10 * MINUTE_MS)
    trace.run("work", 2 * HOUR_MS).silence(2 * HOUR_MS, running=True).run("work", 14 * HOUR_MS, step_ms=30 * MINUTE_MS)
    records = trace.readings
    late = dict(records[12], timestamp=ms("2026-03-10 11:00"))
    late["c40"] = {
        **late["c40"],
        "odometry": {"hours_tot": records[12]["c40"]["odometry"]["hours_tot"] + 1.0, "km_tot": 5000.72},
    }
    publisher = RecordingPublisher()
    consumer = handler(mongo_db, publisher)
    consumer.process(records)
    before = stored(mongo_db)["DT1|2026-03-10"]
    assert before["hours"]["no_data"] > 2.0
    publisher.published.clear()
    consumer.process([late])
    [republished] = publisher.published
    assert republished["_id"] == "DT1|2026-03-10" and republished["version"] == before["version"] + 1
    assert republished["hours"]["no_data"] == pytest.approx(before["hours"]["no_data"] - 2.0, abs=1e-5)
    assert_rows_equal(mongo_db, [*records, late])
    assert abs(republished["engine_hours"] - expected([*records, late])["DT1|2026-03-10"]["engine_hours"]) < 0.01
    consumer.process([late])  # and replayed: nothing
    assert len(publisher.published) == 1


@pytest.mark.parametrize("step", ["save_traces", "load_rows", "save_rollup", "save_rows"])
def test_a_kill_before_any_step_of_a_batch_then_its_replay_loses_and_doubles_nothing(mongo_db, step):
    records = two_days()
    half = len(records) // 2
    publisher = RecordingPublisher()
    handler(mongo_db, publisher).process(records[:half])
    dying = handler(mongo_db, publisher, KillingRepository(mongo_db, step))
    with pytest.raises(Killed):
        dying.process(records[half:])
    handler(mongo_db, publisher).process(records[half:])  # the loop did not commit: the batch again
    assert_rows_equal(mongo_db, records)
    final = stored(mongo_db)
    versions = {(row["_id"], row["version"]) for row in publisher.published}
    assert versions == {(key, v) for key, row in final.items() for v in range(1, row["version"] + 1)}
    newest = {row["_id"]: row for row in sorted(publisher.published, key=lambda row: row["version"])}
    assert {key: newest[key]["engine_hours"] for key in final} == {
        key: row["engine_hours"] for key, row in final.items()
    }
