"""A backdated rate change on the real broker (Tansu), in process, with real Avro bytes: the
issue's case. Rates first, telemetry, then each machine's second, dearer rate effective from the
middle of its data: the API's costs and the usage topic, applied by record id with retractions,
equal a ground truth that prices every interval with the version in effect at its start."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command

from equipment_usage.business_intervals import reading_from_record
from equipment_usage.business_ledger import UsageRules
from equipment_usage.handlers import UsageHandler
from equipment_usage.publisher import UsagePublisher
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_registry import EquipmentRegistryRepository
from stream.codecs import JsonCodec
from tests.factories import produce
from tests.processes import process_env, quick_group_env, start_command
from tests.reliability.support import committed_offsets
from tests.usage.fleet import dearer_versions, generate, priced_ground_truth
from tests.usage.test_consumer_broker import Store
from tests.usage.test_late_broker import read_all

pytestmark = pytest.mark.broker


def consume(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, "--idle-timeout", "3", stdout=out)
    assert "0 dead-lettered" in out.getvalue(), out.getvalue()
    return out.getvalue()


def api_costs(api_client, identifiers) -> dict[tuple[str, str], dict]:
    totals = {}
    for identifier in identifiers:
        response = api_client.get("/api/v1/usage/search/", {"identifier": identifier, "group_by": "day"})
        assert response.status_code == 200, response.content
        totals.update({(identifier, g["key"]): g for g in response.json()["results"]})
    return totals


def topic_costs(kafka, codec, topic: str) -> tuple[dict[tuple[str, str], list[float]], int, int]:
    """The usage topic applied by record id (last wins, a retraction removes): per (machine, date)
    hours, km and cost; and how many records were kept and retracted."""
    kept: dict[str, dict] = {}
    retractions = 0
    for message in read_all(kafka, topic):
        record = codec.decode(message.value())
        if record["retracted"]:
            retractions += 1
            kept.pop(record["record_id"], None)
        else:
            kept[record["record_id"]] = record
    cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for record in kept.values():
        cell = cells[(record["identifier"], record["date"])]
        cell[0] += record["delta_hours"] or 0.0
        cell[1] += record["delta_km"] or 0.0
        cell[2] += sum(source["cost"] for source in record["cost_sources"])
    return dict(cells), len(kept), retractions


def test_a_backdated_rate_change_after_the_telemetry_reprices_what_it_governs(
    kafka, avro, mongo_db, settings, api_client
):
    fleet = generate(machines=6, days=2, seed=22)
    dearer = dearer_versions(fleet)
    truth = priced_ground_truth(fleet, fleet.registry + dearer)
    registry = EquipmentRegistryRepository(mongo_db)  # the first rates, stored before the telemetry
    registry.ensure_indexes()
    registry.store(fleet.registry)
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], fleet.stream)
    settings.CONSUMER_BATCH_SIZE = 50
    consume("consume_equipment_telemetry", "--service", "usage")
    stale = api_costs(api_client, fleet.per_machine)
    wrong = [key for key in truth if stale[key]["cost"] != pytest.approx(truth[key]["cost"], rel=1e-9)]
    assert len(wrong) >= len(fleet.per_machine)  # the starting point: old rates after the middle
    largest = max(abs(stale[key]["cost"] - truth[key]["cost"]) for key in truth)

    produce(kafka.producer(), settings.REGISTRY_TOPIC, avro["registry"], [*fleet.registry, *dearer])  # backdated
    consume("consume_equipment_registry")
    totals = api_costs(api_client, fleet.per_machine)
    assert set(totals) == set(truth)
    for key, want in truth.items():
        for name in ("hours", "km", "cost"):
            assert totals[key][name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), (key, name)
        assert totals[key]["unpriced"] == 0
    repriced = mongo_db.usage_deltas.count_documents({"repriced_by": {"$ne": None}})
    assert repriced >= fleet.distinct_readings // 2 - 2 * len(fleet.per_machine)
    assert mongo_db.usage_repricings.count_documents({"entries": {"$gt": 0}}) == len(fleet.per_machine)

    error = max(abs(totals[key]["cost"] - truth[key]["cost"]) for key in truth)
    print(
        f"\nREPRICING before: {len(wrong)} of {len(truth)} (machine, day) costs wrong, largest error "
        f"{largest:.2f}; after: largest error {error:.2e}; {repriced} entries re-priced"
    )
    cells, kept, retractions = topic_costs(kafka, avro["usage"], settings.USAGE_TOPIC)
    assert retractions >= repriced  # at least one retraction per (re-priced entry, day)
    assert kept == sum(cell["parts"] for cell in truth.values())
    assert set(cells) == set(truth)
    for key, (hours, km, cost) in cells.items():
        assert [hours, km, cost] == pytest.approx([truth[key][n] for n in ("hours", "km", "cost")], rel=1e-9), key

    # replaying the registry topic (a new group reads it all) changes nothing
    before = sorted(mongo_db.usage_deltas.find(), key=lambda d: d["_id"])
    settings.TELEMETRY_SERVICES = {
        **settings.TELEMETRY_SERVICES,
        "registry": {**settings.TELEMETRY_SERVICES["registry"], "GROUP_ID": "registry-replay"},
    }
    consume("consume_equipment_registry")
    assert sorted(mongo_db.usage_deltas.find(), key=lambda d: d["_id"]) == before
    assert api_costs(api_client, fleet.per_machine) == totals


# -- a SIGKILL during re-pricing ------------------------------------------------------------------


def test_sigkill_during_repricing_then_restart_is_exact(kafka, settings, tmp_path):
    """The ledger and the usage topic hold a fleet priced with its first rates; each machine's
    backdated, dearer version is consumed by ``manage.py consume_equipment_registry`` in its own
    process, one version per batch, which is SIGKILLed after writing the first re-priced entries and
    before delivering their records (its usage topic is missing). A restart finishes: the daily totals and the
    topic applied by id equal the ground truth, no entry counted twice, every re-pricing reported."""
    fleet = generate(machines=8, days=2, seed=23)
    dearer = dearer_versions(fleet)
    truth = priced_ground_truth(fleet, fleet.registry + dearer)
    store = Store(tmp_path)
    usage_codec = JsonCodec("usage.avsc")
    try:
        registry, usage = EquipmentRegistryRepository(store.database), UsageRepository(store.database)
        registry.ensure_indexes()
        usage.ensure_indexes()
        registry.store(fleet.registry)
        publisher = UsagePublisher(kafka.producer(), usage_codec, settings.USAGE_TOPIC)
        handler = UsageHandler(usage, registry, publisher, UsageRules())
        readings = [reading_from_record(record) for record in fleet.stream]
        for start in range(0, len(readings), 200):
            handler.process(readings[start : start + 200])
        expected_repriced = sum(
            1
            for doc in store.database.usage_deltas.find({"counted": True})
            if any(v["identifier"] == doc["identifier"] and v["last_update"] <= doc["interval_start"] for v in dearer)
        )
        produce(kafka.producer(), settings.REGISTRY_TOPIC, JsonCodec("equipment_registry.avsc"), dearer)

        env = process_env(settings, tmp_path, CONSUMER_BATCH_SIZE="1", **quick_group_env())
        env.update(MONGO_URI=store.uri, MONGO_DB=store.name)
        repriced = lambda: store.database.usage_deltas.count_documents({"repriced_by": {"$ne": None}})  # noqa: E731
        # The first process's usage topic does not exist: it writes the re-priced entries, then
        # cannot deliver their records (a TransientError, retried with backoff), so the SIGKILL lands
        # between the ledger writes and the publish, whatever the machine's speed.
        missing = {
            "USAGE_TOPIC": f"missing-{uuid.uuid4().hex}",
            "KAFKA_PRODUCER_OPTIONS": json.dumps({"allow.auto.create.topics": False}),
        }
        first = start_command({**env, **missing}, "consume_equipment_registry")
        try:
            deadline = time.monotonic() + 90
            while repriced() == 0:
                assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
                time.sleep(0.05)
            time.sleep(1.0)  # it is retrying its publish now
        finally:
            first.send_signal(signal.SIGKILL)
            output = first.communicate(timeout=30)[0]
        at_kill = repriced()
        group = settings.TELEMETRY_SERVICES["registry"]["GROUP_ID"]
        committed = sum(committed_offsets(kafka, group, settings.REGISTRY_TOPIC).values())
        assert first.returncode == -signal.SIGKILL, output
        assert 0 < at_kill < expected_repriced and committed == 0  # it died with re-pricing under way

        second = start_command(env, "consume_equipment_registry", "--idle-timeout", "4")
        output = second.communicate(timeout=180)[0]
        assert second.returncode == 0, output

        assert repriced() == expected_repriced
        daily: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for doc in store.database.usage_daily.find():
            cell = daily[(doc["identifier"], doc["date"])]
            cell[0] += doc["hours"]
            cell[1] += doc["km"]
            cell[2] += doc["cost"]
            assert doc["unpriced"] == 0
        cells, kept, _ = topic_costs(kafka, usage_codec, settings.USAGE_TOPIC)
        assert set(daily) == set(cells) == set(truth)
        for key, want in truth.items():
            values = [want[n] for n in ("hours", "km", "cost")]
            assert daily[key] == pytest.approx(values, rel=1e-9), key
            assert cells[key] == pytest.approx(values, rel=1e-9), key
        assert kept == sum(cell["parts"] for cell in truth.values())
        reports = list(store.database.usage_repricings.find())
        assert sorted(r["identifier"] for r in reports) == sorted(fleet.per_machine)
        assert sum(r["entries"] for r in reports) == expected_repriced
        print(
            f"\nREPRICING sigkill: killed at {at_kill} of {expected_repriced} re-priced entries, "
            f"{committed} of {len(dearer)} versions committed; restart exact"
        )
    finally:
        store.close()
