"""Late readings end to end on the real broker (Tansu), in process, with real Avro bytes.

A fleet whose readings are produced per machine in event order, except one in ten, which is held
back and produced hours later (after later readings of its machine, same key, so same partition).
The API's totals per machine and day equal the ground truth of the sorted stream (``fleet.py``),
and the usage topic, applied by record id with retractions, sums to the same totals.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import produce
from tests.usage.fleet import generate, ground_truth

pytestmark = pytest.mark.broker

HOUR = 3_600_000


def late_stream(per_machine: dict[str, list[dict]], share: float = 0.1, seed: int = 7) -> tuple[list[dict], int]:
    """Each machine's readings in event order, a ``share`` of them (never the first two) held back
    until the machine's readings are 2 to 6 hours past them; machines interleaved at random."""
    rng = random.Random(seed)
    sequences, held_back = [], 0
    for readings in per_machine.values():
        late = set(rng.sample(range(2, len(readings)), round(share * len(readings))))
        held_back += len(late)
        sequence: list[dict] = []
        waiting: list[tuple[int, dict]] = []  # (release time, reading)
        for index, reading in enumerate(readings):
            sequence += [r for release, r in waiting if release <= reading["timestamp"]]
            waiting = [(release, r) for release, r in waiting if release > reading["timestamp"]]
            if index in late:
                waiting.append((reading["timestamp"] + rng.randint(2, 6) * HOUR, reading))
            else:
                sequence.append(reading)
        sequences.append(sequence + [r for _, r in waiting])
    stream = []
    while any(sequences):
        stream.append(rng.choice([s for s in sequences if s]).pop(0))
    return stream, held_back


def read_all(kafka, topic: str, idle: float = 3.0, timeout: float = 40.0) -> list:
    """Every message of ``topic``, in partition order, until none came for ``idle`` seconds."""
    consumer = kafka.consumer(f"reader-{uuid.uuid4().hex}", [topic])
    messages: list = []
    deadline, last = time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline and (not messages or time.monotonic() - last < idle):
            batch = [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]
            if batch:
                messages += batch
                last = time.monotonic()
    finally:
        consumer.close()
    return messages


def test_late_readings_give_the_totals_of_the_sorted_stream(kafka, avro, mongo_db, settings, api_client):
    fleet = generate(machines=12, days=2, seed=13)
    truth = ground_truth(fleet)
    stream, held_back = late_stream(fleet.per_machine)
    assert held_back >= 30 and len(stream) == fleet.distinct_readings
    produce(kafka.producer(), settings.REGISTRY_TOPIC, avro["registry"], fleet.registry)
    call_command("consume_equipment_registry", "--idle-timeout", "4", stdout=StringIO())
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], stream)

    # Small batches, so that a held-back reading arrives in a later batch than the readings after it.
    settings.CONSUMER_BATCH_SIZE = 10
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", "usage", "--idle-timeout", "4", stdout=out)
    assert f"{len(stream)} messages" in out.getvalue() and "0 dead-lettered" in out.getvalue()

    # The API: every machine and day as the sorted stream gives.
    totals = {}
    for identifier in fleet.per_machine:
        response = api_client.get("/api/v1/usage/search/", {"identifier": identifier, "group_by": "day"})
        assert response.status_code == 200, response.content
        totals.update({(identifier, g["key"]): g for g in response.json()["results"]})
    assert set(totals) == set(truth)
    for key, want in truth.items():
        for name in ("hours", "km", "cost"):
            assert totals[key][name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), (key, name)
    assert mongo_db.usage_deltas.count_documents({}) == fleet.distinct_readings
    corrected = mongo_db.usage_deltas.count_documents({"corrected_by": {"$ne": None}})
    # Held-back readings that arrived in a later batch than their successor split stored entries
    # (several in one interval, or in the successor's own batch, make fewer replacements).
    assert corrected >= 10

    # The usage topic, applied by record id (last wins, a retraction removes): the same totals.
    kept: dict[str, dict] = {}
    retractions = 0
    for message in read_all(kafka, settings.USAGE_TOPIC):
        record = avro["usage"].decode(message.value())
        assert message.key() == record["identifier"].encode()
        if record["retracted"]:
            retractions += 1
            kept.pop(record["record_id"], None)
        else:
            kept[record["record_id"]] = record
    assert retractions >= 10
    published: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for record in kept.values():
        cell = published[(record["identifier"], record["date"])]
        cell[0] += record["delta_hours"] or 0.0
        cell[1] += record["delta_km"] or 0.0
        cell[2] += sum(source["cost"] for source in record["cost_sources"])
    assert set(published) == set(truth)
    for key, (hours, km, cost) in published.items():
        assert [hours, km, cost] == pytest.approx([truth[key][n] for n in ("hours", "km", "cost")], rel=1e-9), key
    assert len(kept) == sum(cell["parts"] for cell in truth.values())
