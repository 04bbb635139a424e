"""The shared consumer loop on the real broker: retries, stops, validation, limits."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition
from pymongo.errors import AutoReconnect

from equipment_current.handlers import CurrentStateHandler
from stream.codecs import JsonCodec
from telemetry_site.services import build_consumer_loop
from tests.factories import T0, produce, telemetry

pytestmark = pytest.mark.broker


class FlakyHandler:
    """The real handler behind a database that drops the first ``failures`` calls."""

    def __init__(self, failures: int, on_failure=None) -> None:
        self.inner = CurrentStateHandler()
        self.failures = failures
        self.calls = 0
        self.on_failure = on_failure

    def handle(self, records) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            if self.on_failure:
                self.on_failure()
            raise AutoReconnect("connection reset by peer")
        self.inner.handle(records)


@pytest.fixture
def json_codec(settings):
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    settings.CONSUMER_RETRY_BACKOFF_SECONDS = 0.05
    return JsonCodec("c40_enriched.avsc")


def committed(kafka, settings, partitions=4):
    probe = kafka.consumer(settings.TELEMETRY_SERVICES["current"]["GROUP_ID"])
    try:
        offsets = probe.committed([TopicPartition(settings.TELEMETRY_TOPIC, p) for p in range(partitions)], timeout=10)
    finally:
        probe.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def test_transient_database_fault_is_retried_and_nothing_is_lost(kafka, json_codec, mongo_db, settings):
    records = [telemetry(f"EX{i}", T0 + i) for i in range(20)]
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, json_codec, records)
    loop = build_consumer_loop("current", idle_timeout=4)
    loop.handler = FlakyHandler(failures=3)
    stats = loop.run()
    assert stats.retries == 3
    assert stats.processed == 20 and stats.dead_lettered == 0
    assert mongo_db.current_state.count_documents({}) == 20
    assert committed(kafka, settings) == 20


def test_stop_while_database_is_down_commits_nothing(kafka, json_codec, mongo_db, settings):
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, json_codec, [telemetry(f"EX{i}", T0) for i in range(10)])
    loop = build_consumer_loop("current", idle_timeout=10)
    handler = FlakyHandler(failures=10**6)
    # What SIGTERM does, while the database is still down on the third attempt.
    handler.on_failure = lambda: handler.calls >= 3 and loop.stop()
    loop.handler = handler
    stats = loop.run()
    assert stats.retries == 2
    assert handler.calls == 3
    assert stats.processed == 0
    assert mongo_db.current_state.count_documents({}) == 0
    assert committed(kafka, settings) == 0


def test_implausible_record_is_dead_lettered_with_its_reason(kafka, json_codec, mongo_db, settings):
    good = telemetry("EX1", T0)
    bad = telemetry("EX2", T0, latitude=123.0)
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, json_codec, [good, bad])
    stats = build_consumer_loop("current", idle_timeout=4).run()
    assert (stats.processed, stats.dead_lettered) == (1, 1)
    reader = kafka.consumer("dlq-" + settings.DEAD_LETTER_TOPIC, [settings.DEAD_LETTER_TOPIC])
    try:
        letters = []
        for _ in range(20):
            letters += [m for m in reader.consume(5, timeout=1) if m.error() is None]
            if letters:
                break
    finally:
        reader.close()
    assert len(letters) == 1
    headers = dict(letters[0].headers())
    assert headers["dlq.error"].startswith(b"validation: location.GPS.latitude: 123.0 is outside")
    assert headers["dlq.service"] == b"current"


def test_max_messages_stops_the_loop_and_commits_what_it_read(kafka, json_codec, mongo_db, settings):
    records = [telemetry("EX1", T0 + i) for i in range(30)]
    producer = kafka.producer()
    for record in records:  # one partition, so "the first 12" is well defined
        producer.produce(settings.TELEMETRY_TOPIC, value=json_codec.encode(record), partition=0)
    assert producer.flush(10) == 0
    stats = build_consumer_loop("current", max_messages=12, idle_timeout=10).run()
    assert stats.messages == 12
    assert mongo_db.current_state.find_one({"_id": "EX1"})["last_event_at"] == T0 + 11
    assert committed(kafka, settings) == 12
