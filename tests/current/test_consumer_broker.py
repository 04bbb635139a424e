"""The current-state service end to end on the real broker (Tansu), with real Avro bytes."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from confluent_kafka import TopicPartition
from django.core.management import call_command

from tests.factories import T0, produce, telemetry

pytestmark = pytest.mark.broker

MINUTE = 60_000


def fleet_stream(machines: int = 50, per_machine: int = 18, seed: int = 7) -> tuple[list[dict], dict[str, dict]]:
    """Readings of ``machines`` machines, shuffled out of event-time order, with duplicates.

    Returns the stream and, per machine, its newest reading (what the API must show). Some
    readings lack GPS, so the expected position is that of the newest reading that has one.
    """
    rng = random.Random(seed)
    stream, newest, newest_gps = [], {}, {}
    for m in range(machines):
        identifier = f"EX{m:03d}"
        for i in range(per_machine):
            ts = T0 + i * 5 * MINUTE + m
            gps = i % 4 != 3
            record = telemetry(
                identifier,
                ts,
                latitude=45.0 + m / 100 + i / 1000 if gps else None,
                longitude=9.0 + m / 100 + i / 1000 if gps else None,
                hours=100.0 + i * 0.1,
                km=5000.0 + i,
                running=i % 2 == 0,
                pois=[f"site-{(m + i) % 5}"],
            )
            stream.append(record)
            newest[identifier] = record
            if gps:
                newest_gps[identifier] = record
    duplicates = rng.sample(stream, len(stream) // 10)
    stream += duplicates
    rng.shuffle(stream)
    expected = {
        identifier: {"newest": record, "newest_gps": newest_gps[identifier]} for identifier, record in newest.items()
    }
    return stream, expected


def consume(service: str = "current", idle: float = 4.0) -> str:
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", service, "--idle-timeout", str(idle), stdout=out)
    return out.getvalue()


def fleet(api_client) -> dict[str, dict]:
    response = api_client.get("/api/v1/current/", {"page_size": 1000})
    assert response.status_code == 200, response.content
    return {item["identifier"]: item for item in response.json()["results"]}


def test_shuffled_avro_stream_with_duplicates_gives_newest_state_and_replay_changes_nothing(
    kafka, avro, mongo_db, settings, api_client
):
    stream, expected = fleet_stream()
    assert len(stream) >= 990
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], stream)

    summary = consume()
    assert f"{len(stream)} messages" in summary and f"{len(stream)} processed" in summary

    states = fleet(api_client)
    assert set(states) == set(expected)
    for identifier, want in expected.items():
        state, newest, newest_gps = states[identifier], want["newest"], want["newest_gps"]
        assert state["odometer"]["km_tot"] == newest["c40"]["odometry"]["km_tot"]
        assert state["engine_hours"]["hours_tot"] == newest["c40"]["odometry"]["hours_tot"]
        assert state["engine"]["running"] == newest["c40"]["engine"]["running"]
        assert state["position"]["latitude"] == newest_gps["location"]["GPS"]["latitude"]
        assert state["position"]["longitude"] == newest_gps["location"]["GPS"]["longitude"]
        assert state["points_of_interest"]["names"] == [newest_gps["location"]["pointsOfInterest"][0]["name"]]
    before = list(mongo_db.current_state.find().sort("_id"))

    # Replay the whole topic from the beginning under a new group: nothing may change.
    settings.TELEMETRY_SERVICES = {
        **settings.TELEMETRY_SERVICES,
        "current": {**settings.TELEMETRY_SERVICES["current"], "GROUP_ID": "replay-" + settings.TELEMETRY_TOPIC},
    }
    summary = consume()
    assert f"{len(stream)} messages" in summary and f"{len(stream)} processed" in summary
    assert list(mongo_db.current_state.find().sort("_id")) == before


def test_garbage_and_unknown_schema_id_are_dead_lettered_with_origin(kafka, avro, mongo_db, settings):
    codec = avro["telemetry"]
    good = codec.encode(telemetry("EX001", T0))
    unknown_schema = b"\x00\x00\x00\x99\x99" + good[5:]
    producer = kafka.producer()
    producer.produce(settings.TELEMETRY_TOPIC, key=b"EX001", value=good, partition=0)
    producer.produce(settings.TELEMETRY_TOPIC, key=b"EX002", value=b"\xde\xad\xbe\xef garbage", partition=0)
    producer.produce(settings.TELEMETRY_TOPIC, key=b"EX003", value=unknown_schema, partition=0)
    producer.produce(settings.TELEMETRY_TOPIC, key=b"EX004", value=codec.encode(telemetry("EX004", T0)), partition=0)
    assert producer.flush(10) == 0

    summary = consume()
    assert "4 messages" in summary and "2 processed" in summary and "2 dead-lettered" in summary
    assert {doc["_id"] for doc in mongo_db.current_state.find()} == {"EX001", "EX004"}

    dead = kafka.consumer(f"dlq-reader-{settings.DEAD_LETTER_TOPIC}", [settings.DEAD_LETTER_TOPIC])
    try:
        letters = []
        for _ in range(30):
            letters += [m for m in dead.consume(10, timeout=1) if m.error() is None]
            if len(letters) >= 2:
                break
    finally:
        dead.close()
    by_key = {m.key(): (m.value(), dict(m.headers())) for m in letters}
    assert set(by_key) == {b"EX002", b"EX003"}
    garbage_value, garbage = by_key[b"EX002"]
    assert garbage_value == b"\xde\xad\xbe\xef garbage"
    assert garbage["dlq.origin.topic"] == settings.TELEMETRY_TOPIC.encode()
    assert garbage["dlq.origin.partition"] == b"0"
    assert garbage["dlq.origin.offset"] == b"1"
    assert b"magic byte" in garbage["dlq.error"]
    unknown_value, unknown = by_key[b"EX003"]
    assert unknown_value == unknown_schema
    assert unknown["dlq.origin.offset"] == b"2"
    assert b"unknown schema id" in unknown["dlq.error"]

    # The bad messages were committed past too: the group's offset is after the last message.
    probe = kafka.consumer(settings.TELEMETRY_SERVICES["current"]["GROUP_ID"])
    try:
        committed = probe.committed([TopicPartition(settings.TELEMETRY_TOPIC, 0)], timeout=10)
    finally:
        probe.close()
    assert committed[0].offset == 4
