"""The consumer as an operator runs it: a separate process, stopped with SIGTERM."""

from __future__ import annotations

import signal
import time

import pytest

from equipment_current.business import fold_state_updates
from stream.codecs import JsonCodec
from telemetry_site.databases import open_database
from tests.factories import T0, produce, telemetry
from tests.processes import process_env, real_mongo_uri, start_command

pytestmark = pytest.mark.broker


def test_sigterm_finishes_the_batch_exits_zero_and_a_restart_loses_nothing(kafka, mongo_db, settings, tmp_path):
    records = [
        telemetry(f"EX{i % 40:03d}", T0 + i * 1000, km=float(i), latitude=45 + i / 1e4, longitude=9.0)
        for i in range(3000)
    ]
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, JsonCodec("c40_enriched.avsc"), records)
    env = process_env(settings, tmp_path, CONSUMER_BATCH_SIZE="50")
    store = open_database(real_mongo_uri() or f"litemongo://{tmp_path}", env["MONGO_DB"])

    consumer = start_command(env, "consume_equipment_telemetry", "--service", "current")
    try:
        deadline = time.monotonic() + 60
        while store.current_state.count_documents({}) == 0 and time.monotonic() < deadline:
            assert consumer.poll() is None, consumer.stdout.read()
            time.sleep(0.1)
        assert store.current_state.count_documents({}) > 0, "the consumer never wrote"
        consumer.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        output, _ = consumer.communicate(timeout=10)
        assert time.monotonic() - stopped_at < 10
    finally:
        if consumer.poll() is None:
            consumer.kill()
    assert consumer.returncode == 0, output
    first_run = next(line for line in output.splitlines() if line.startswith("current: "))
    consumed = int(first_run.split()[1])
    assert 0 < consumed < len(records), f"SIGTERM should land mid-stream: {first_run}"

    rest = start_command(env, "consume_equipment_telemetry", "--service", "current", "--idle-timeout", "4")
    output, _ = rest.communicate(timeout=120)
    assert rest.returncode == 0, output
    second_run = next(line for line in output.splitlines() if line.startswith("current: "))
    # Nothing lost: both runs together saw every message (a batch may be seen twice, never zero times).
    assert consumed + int(second_run.split()[1]) >= len(records)

    expected = fold_state_updates(records)
    stored = {doc["_id"]: doc for doc in store.current_state.find()}
    assert set(stored) == set(expected)
    for identifier, update in expected.items():
        assert stored[identifier]["last_event_at"] == update.last_event_at
        assert stored[identifier]["odometer"] == update.sections["odometer"]
