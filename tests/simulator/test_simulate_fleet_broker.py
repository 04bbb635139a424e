"""The simulator feeding the current-state service through the real broker (Tansu), in Avro."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command

from devstack.simulator import FleetSimulator
from tests.factories import authenticated_api_client

pytestmark = pytest.mark.broker

DAY = 86_400_000


def test_a_simulated_day_of_five_machines_reaches_the_fleet_snapshot(kafka, avro, mongo_db, settings):
    end = time.time_ns() // 1_000_000  # a fixed end, so the same simulation can be rebuilt below
    out = StringIO()
    call_command(
        "simulate_fleet",
        *("--machines", "5", "--seed", "11", "--backfill-days", "1", "--end", str(end), "--no-progress"),
        *("--garbage-rate", "0.01", "--duplicate-rate", "0.02"),
        stdout=out,
    )
    simulator = FleetSimulator(machines=5, seed=11, start_ms=end - DAY, garbage_rate=0.01, duplicate_rate=0.02)
    events = list(simulator.events(until_ms=end))
    counts = simulator.counters
    assert f"Published {counts.messages} messages" in out.getvalue()

    summary = StringIO()
    call_command("consume_equipment_telemetry", "--service", "current", "--idle-timeout", "4", stdout=summary)
    # Every telemetry message and every garbage one was read; the garbage went to the dead letters.
    assert f"{counts.telemetry + counts.garbage} messages" in summary.getvalue()
    assert f"{counts.garbage} dead-lettered" in summary.getvalue() and counts.garbage > 0

    newest_fix = {}
    for event in events:
        has_fix = event.kind == "telemetry" and event.value["location"]["GPS"] is not None
        if has_fix and event.timestamp >= newest_fix.get(event.key, {"timestamp": 0})["timestamp"]:
            newest_fix[event.key] = event.value
    response = authenticated_api_client().get("/api/v1/current/", {"page_size": 100})
    assert response.status_code == 200, response.content
    states = {item["identifier"]: item for item in response.json()["results"]}
    assert set(states) == set(newest_fix) and len(states) == 5
    for identifier, record in newest_fix.items():
        position = states[identifier]["position"]
        assert (position["latitude"], position["longitude"]) == (
            record["location"]["GPS"]["latitude"],
            record["location"]["GPS"]["longitude"],
        )
        assert states[identifier]["description"]["brand"] == record["description"]["brand"]

    # The registry topic holds a record per machine, plus any rate update the day brought.
    reader = kafka.consumer(f"registry-reader-{settings.REGISTRY_TOPIC}", [settings.REGISTRY_TOPIC])
    try:
        records = []
        for _ in range(30):
            records += [avro["registry"].decode(m.value()) for m in reader.consume(10, timeout=1) if m.error() is None]
            if len(records) >= counts.registry:
                break
    finally:
        reader.close()
    assert len(records) == counts.registry and {r["identifier"] for r in records} == set(newest_fix)
    assert all(r["currency"] == "EUR" for r in records)
