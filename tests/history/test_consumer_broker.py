"""The position-history service end to end on the real broker (Tansu), with real Avro bytes."""

from __future__ import annotations

import random
import time
from io import StringIO

import pytest
from confluent_kafka import TopicPartition
from django.core.management import call_command

from telemetry_site.api import ms_to_iso
from tests.factories import authenticated_api_client, produce, telemetry

pytestmark = pytest.mark.broker

HOUR = 3_600_000
NOW = int(time.time() * 1000)
START = NOW - 72 * HOUR  # three days of history, well inside the default retention


def position_stream(machines: int = 30, per_machine: int = 24, seed: int = 11) -> tuple[list[dict], dict[str, list]]:
    """Readings every 3 hours for 3 days, shuffled, with duplicates; every 5th lacks a GPS fix.

    Returns the stream and, per machine, its distinct positions as (timestamp, lat, lon) in time
    order — what the API must return.
    """
    rng = random.Random(seed)
    stream: list[dict] = []
    expected: dict[str, list] = {}
    for m in range(machines):
        identifier = f"EX{m:03d}"
        expected[identifier] = []
        for i in range(per_machine):
            ts = START + i * 3 * HOUR + m * 1000
            gps = i % 5 != 4
            latitude, longitude = (45.0 + m / 100 + i / 1000, 9.0 + m / 100 + i / 1000) if gps else (None, None)
            stream.append(telemetry(identifier, ts, latitude=latitude, longitude=longitude, pois=[f"site-{m % 3}"]))
            if gps:
                expected[identifier].append((ts, latitude, longitude))
    stream += rng.sample(stream, len(stream) // 10)
    rng.shuffle(stream)
    return stream, expected


def rewind(kafka, group: str, topic: str, partitions: int = 4) -> None:
    """Commit offset 0 on every partition for ``group`` (which has no active member now)."""
    offsets = [TopicPartition(topic, partition, 0) for partition in range(partitions)]
    consumer = kafka.consumer(group)
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
        assert [tp.offset for tp in consumer.committed(offsets, timeout=10)] == [0] * partitions
    finally:
        consumer.close()


def consume(idle: float = 4.0) -> str:
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", "history", "--idle-timeout", str(idle), stdout=out)
    return out.getvalue()


def positions_of(client, identifier: str) -> tuple[list[tuple], int]:
    """Every position of ``identifier`` through the API, following ``next``, and the page count."""
    response = client.get(f"/api/v1/history/{identifier}/", {"from": START - HOUR, "to": NOW + 1, "page_size": 7})
    found, pages = [], 0
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["archive"] == "not_needed"
        pages += 1
        found += [(item["timestamp"], item["latitude"], item["longitude"]) for item in body["results"]]
        if not body["next"]:
            return found, pages
        response = client.get(body["next"])


def test_shuffled_stream_with_duplicates_stores_each_position_once_and_replay_changes_nothing(
    kafka, avro, mongo_db, settings
):
    stream, expected = position_stream()
    distinct = sum(len(positions) for positions in expected.values())
    assert len(stream) == 792 and distinct == 600
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], stream)

    summary = consume()
    assert f"{len(stream)} messages" in summary and f"{len(stream)} processed, 0 dead-lettered" in summary
    assert mongo_db.positions.count_documents({}) == distinct

    client = authenticated_api_client()
    for identifier, positions in expected.items():
        found, pages = positions_of(client, identifier)
        assert found == [(ms_to_iso(ts), lat, lon) for ts, lat, lon in positions], identifier
        assert pages == 3  # 20 positions, 7 a page
    before = list(mongo_db.positions.find({}, {"_id": 0}).sort([("identifier", 1), ("timestamp", 1)]))

    # Replay the whole topic: rewind the group to the start, as an operator would with
    # kafka-consumer-groups --reset-offsets --to-earliest. (Changing a setting here instead would
    # rebuild every registry, the in-process database and the mock schema registry included.)
    rewind(kafka, settings.TELEMETRY_SERVICES["history"]["GROUP_ID"], settings.TELEMETRY_TOPIC)
    summary = consume()
    assert f"{len(stream)} messages" in summary and f"{len(stream)} processed, 0 dead-lettered" in summary
    assert list(mongo_db.positions.find({}, {"_id": 0}).sort([("identifier", 1), ("timestamp", 1)])) == before
