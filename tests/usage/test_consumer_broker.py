"""The usage service end to end on the real broker (Tansu).

In process, with real Avro bytes: 20 machines over 3 days, interleaved, with duplicates and a
reset; the API's totals per machine and day equal the ground truth computed in ``fleet.py``; a
replay changes nothing; the usage topic holds one record per (delta, day) once duplicates are
dropped by record id.

Across processes (``manage.py consume_equipment_telemetry --service usage`` as subprocesses sharing
a litemongo store, JSON codec since the mock registry lives in one process): SIGKILL mid-stream
and a restart, and two consumers of one group with one stopped halfway, still give exact totals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from io import BytesIO, StringIO
from pathlib import Path

import fastavro
import pytest
from django.core.management import call_command

from equipment_usage.repository_registry import EquipmentRegistryRepository
from stream.codecs import JsonCodec, load_schema
from telemetry_site.databases import open_database
from tests.factories import authenticated_api_client, produce
from tests.processes import FAST_GROUP, real_mongo_uri
from tests.usage.fleet import RESET_MACHINE, generate, ground_truth

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]


def consume(command: str, *args: str, idle: float = 4.0) -> str:
    out = StringIO()
    call_command(command, *args, "--idle-timeout", str(idle), stdout=out)
    return out.getvalue()


def api_totals(client, identifiers) -> dict[tuple[str, str], dict]:
    totals = {}
    for identifier in identifiers:
        response = client.get("/api/v1/usage/search/", {"identifier": identifier, "group_by": "day"})
        assert response.status_code == 200, response.content
        for group in response.json()["results"]:
            totals[(identifier, group["key"])] = group
    return totals


def assert_totals_match(totals: dict, truth: dict, with_cost: bool = True) -> None:
    assert set(totals) == set(truth)
    for key, want in truth.items():
        got = totals[key]
        assert got["hours"] == pytest.approx(want["hours"], rel=1e-9, abs=1e-9), key
        assert got["km"] == pytest.approx(want["km"], rel=1e-9, abs=1e-9), key
        if with_cost:
            assert got["cost"] == pytest.approx(want["cost"], rel=1e-9, abs=1e-9), key
            assert got["unpriced"] == 0


def rounded_daily(mongo_db) -> list[dict]:
    """The daily totals, sums rounded to 1e-9: a batch adds to a total, a replay recomputes it from
    the ledger, and the same sum in another order may differ in its last bits."""
    return [
        {
            name: round(value, 9) if name in ("hours", "km", "cost") and value is not None else value
            for name, value in doc.items()
        }
        for doc in mongo_db.usage_daily.find().sort("_id")
    ]


def read_topic(kafka, topic: str, at_least: int, timeout: float = 40.0) -> list:
    consumer = kafka.consumer(f"reader-{uuid.uuid4().hex}", [topic])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < at_least and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(500, timeout=1) if m.error() is None]
        # drain what else is there
        messages += [m for m in consumer.consume(500, timeout=2) if m.error() is None]
    finally:
        consumer.close()
    return messages


def test_fleet_totals_replay_and_usage_topic(kafka, avro, mongo_db, settings):
    fleet = generate()
    truth = ground_truth(fleet)
    assert len(fleet.stream) > fleet.distinct_readings >= 20 * 40
    produce(kafka.producer(), settings.REGISTRY_TOPIC, avro["registry"], fleet.registry)
    assert "20 processed" in consume("consume_equipment_registry")
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], fleet.stream)

    summary = consume("consume_equipment_telemetry", "--service", "usage")
    assert f"{len(fleet.stream)} messages" in summary and "0 dead-lettered" in summary

    client = authenticated_api_client()
    assert_totals_match(api_totals(client, fleet.per_machine), truth)
    assert mongo_db.usage_deltas.count_documents({}) == fleet.distinct_readings
    assert mongo_db.usage_deltas.count_documents({"flags": "late"}) == 0
    assert mongo_db.usage_deltas.count_documents({"flags": "hours_reset"}) == 1
    (reset,) = mongo_db.usage_deltas.find({"flags": "hours_reset"})
    assert reset["identifier"] == RESET_MACHINE and reset["hours"] is None and reset["km"] is not None
    before = (rounded_daily(mongo_db), list(mongo_db.usage_deltas.find().sort("_id")))

    # Replay the whole input topic from the beginning under a new group: no total changes.
    # The dict (this test's own, from the kafka fixture) is edited in place: assigning a new one
    # would fire setting_changed, rebuild the codecs and with them the mock:// registry client,
    # which would then no longer know the schema ids and dead-letter the whole replay.
    settings.TELEMETRY_SERVICES["usage"]["GROUP_ID"] = "replay-" + settings.TELEMETRY_TOPIC
    summary = consume("consume_equipment_telemetry", "--service", "usage")
    assert f"{len(fleet.stream)} messages" in summary and f"{len(fleet.stream)} processed" in summary
    assert (rounded_daily(mongo_db), list(mongo_db.usage_deltas.find().sort("_id"))) == before
    assert_totals_match(api_totals(client, fleet.per_machine), truth)

    # The usage topic: one record per (delta, day) once duplicates (the replay republished every
    # record) are dropped by record id; every one decodes with the repo's usage.avsc.
    parts = sum(cell["parts"] for cell in truth.values())
    messages = read_topic(kafka, settings.USAGE_TOPIC, at_least=2 * parts)
    schema = fastavro.parse_schema(load_schema("usage.avsc"))
    records = {}
    for message in messages:
        value = message.value()
        assert value[0] == 0  # Confluent wire format: magic byte, schema id, Avro body
        body = BytesIO(value[5:])
        record = fastavro.schemaless_reader(body, schema, None)
        assert body.tell() == len(value) - 5
        assert message.key() == record["identifier"].encode()
        records[record["record_id"]] = record
    # The replay republished every record, and a duplicate reading republishes its delta's records.
    assert len(messages) >= 2 * parts
    assert len(records) == parts
    published: dict[tuple[str, str], list[float]] = {}
    for record in records.values():
        cell = published.setdefault((record["identifier"], record["date"]), [0.0, 0.0, 0.0])
        cell[0] += record["delta_hours"] or 0.0
        cell[1] += record["delta_km"] or 0.0
        cell[2] += sum(source["cost"] for source in record["cost_sources"])
        assert record["currency"] == "EUR" and record["retracted"] is False
    assert set(published) == set(truth)
    for key, (hours, km, cost) in published.items():
        assert hours == pytest.approx(truth[key]["hours"], rel=1e-9, abs=1e-9)
        assert km == pytest.approx(truth[key]["km"], rel=1e-9, abs=1e-9)
        assert cost == pytest.approx(truth[key]["cost"], rel=1e-9, abs=1e-9)


# -- separate processes sharing a store ------------------------------------------------------------


class Store:
    """The store the subprocesses share: litemongo in a temporary directory, or a real server."""

    def __init__(self, tmp_path: Path) -> None:
        self.uri = real_mongo_uri() or f"litemongo://{tmp_path / 'litemongo'}"
        self.name = f"c40_test_{uuid.uuid4().hex[:10]}"
        self.database = open_database(self.uri, self.name)

    def close(self) -> None:
        self.database.client.drop_database(self.name)


def consumer_process(settings, store: Store, tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "KAFKA_BOOTSTRAP_SERVERS": settings.TELEMETRY_KAFKA["default"]["OPTIONS"]["common"]["bootstrap.servers"],
        "KAFKA_CONSUMER_OPTIONS": json.dumps(FAST_GROUP),
        "TELEMETRY_TOPIC": settings.TELEMETRY_TOPIC,
        "USAGE_TOPIC": settings.USAGE_TOPIC,
        "REGISTRY_TOPIC": settings.REGISTRY_TOPIC,
        "DEAD_LETTER_TOPIC": settings.DEAD_LETTER_TOPIC,
        "USAGE_GROUP_ID": settings.TELEMETRY_SERVICES["usage"]["GROUP_ID"],
        "TELEMETRY_CODEC": "json",
        "SCHEMA_REGISTRY_URL": "",
        "MONGO_URI": store.uri,
        "MONGO_DB": store.name,
        "CONSUMER_BATCH_SIZE": "15",
        "CONSUMER_BATCH_WAIT_SECONDS": "0.2",
        "DJANGO_SQLITE_PATH": str(tmp_path / "django.sqlite3"),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, str(ROOT / "manage.py"), "consume_equipment_telemetry", "--service", "usage"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return process, log


def wait_for_entries(store: Store, at_least: int, processes, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = store.database.usage_deltas.count_documents({})
        if count >= at_least:
            return count
        for process, log in processes:
            assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"only {store.database.usage_deltas.count_documents({})} of {at_least} entries")


def stop(process: subprocess.Popen, log: Path, sig: int = signal.SIGTERM) -> str:
    process.send_signal(sig)
    process.wait(30)
    return log.read_text()


def store_totals(store: Store, identifiers) -> dict[tuple[str, str], dict]:
    totals = {}
    for doc in store.database.usage_daily.find({"identifier": {"$in": list(identifiers)}}):
        cell = totals.setdefault((doc["identifier"], doc["date"]), {"hours": 0.0, "km": 0.0, "cost": 0.0})
        cell["hours"] += doc["hours"]
        cell["km"] += doc["km"]
        cell["cost"] += doc["cost"] or 0.0
        cell.setdefault("unpriced", 0)
        cell["unpriced"] += doc["unpriced"]
    return totals


@pytest.fixture
def shared_fleet(kafka, settings, tmp_path):
    fleet = generate(machines=20, days=3, seed=5)
    store = Store(tmp_path)
    registry = EquipmentRegistryRepository(store.database)
    registry.ensure_indexes()
    registry.store(fleet.registry)
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, JsonCodec("c40_enriched.avsc"), fleet.stream)
    yield fleet, store
    store.close()


def test_sigkill_mid_stream_then_restart_gives_exact_totals(settings, shared_fleet, tmp_path):
    fleet, store = shared_fleet
    first, first_log = consumer_process(settings, store, tmp_path, "first")
    try:
        at_kill = wait_for_entries(store, fleet.distinct_readings // 3, [(first, first_log)])
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    assert at_kill < fleet.distinct_readings  # it died mid-stream

    second, second_log = consumer_process(settings, store, tmp_path, "second")
    try:
        wait_for_entries(store, fleet.distinct_readings, [(second, second_log)])
        # The ledger is complete; SIGTERM lets the batch in hand finish (totals, publish, commit).
    finally:
        output = stop(second, second_log)
    assert second.returncode == 0, output
    assert store.database.usage_deltas.count_documents({}) == fleet.distinct_readings
    assert_totals_match(store_totals(store, fleet.per_machine), ground_truth(fleet))


def test_two_consumers_one_stopped_halfway_give_exact_totals(settings, shared_fleet, tmp_path):
    fleet, store = shared_fleet
    a, a_log = consumer_process(settings, store, tmp_path, "a")
    b, b_log = consumer_process(settings, store, tmp_path, "b")
    try:
        wait_for_entries(store, fleet.distinct_readings // 2, [(a, a_log), (b, b_log)])
        a_output = stop(a, a_log)
        wait_for_entries(store, fleet.distinct_readings, [(b, b_log)])
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    b_output = b_log.read_text()
    assert a.returncode == 0 and b.returncode == 0, a_output + b_output
    processed = [int(out.split("usage: ")[1].split(" messages")[0]) for out in (a_output, b_output)]
    assert all(count > 0 for count in processed), (a_output, b_output)  # both really took part
    assert store.database.usage_deltas.count_documents({}) == fleet.distinct_readings
    assert_totals_match(store_totals(store, fleet.per_machine), ground_truth(fleet))
