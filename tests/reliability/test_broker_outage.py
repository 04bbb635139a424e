"""Broker outage: the broker process stops and a new (empty: Tansu keeps data in memory) one comes
up on the same port. The running consumer reconnects by itself — no restart, no exit, no hot loop."""

from __future__ import annotations

import time
import uuid

import pytest

from devstack.embedded import create_topics, free_port, start_broker
from telemetry_site import backends
from telemetry_site.databases import open_database
from tests.processes import process_env, quick_group_env, real_mongo_uri
from tests.reliability.support import (
    PARTITIONS,
    ConsumerProcess,
    committed_offsets,
    fleet_stream,
    produce_tracked,
    reference_snapshot,
    snapshot,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.broker]

OUTAGE_SECONDS = 6.0
SERVICE = "current"  # the loop is shared: one service proves the reconnection


@pytest.fixture
def own_broker(settings, tmp_path):
    """A broker of this test alone, and settings (topics, groups) pointing at it."""
    port = free_port()
    broker = start_broker(port=port, log_path=tmp_path / "tansu-1.log")
    suffix = uuid.uuid4().hex[:8]
    settings.TELEMETRY_KAFKA = {
        "default": {
            "BACKEND": "stream.kafka.KafkaClientFactory",
            "OPTIONS": {"common": {"bootstrap.servers": broker.bootstrap_servers}},
        }
    }
    settings.TELEMETRY_TOPIC = f"outage-telemetry-{suffix}"
    settings.DEAD_LETTER_TOPIC = f"outage-deadletter-{suffix}"
    settings.TELEMETRY_SERVICES = {
        name: {**d, "TOPIC": settings.TELEMETRY_TOPIC, "GROUP_ID": f"{d['GROUP_ID']}-{suffix}"}
        for name, d in settings.TELEMETRY_SERVICES.items()
    }
    brokers = [broker]
    yield brokers
    for each in brokers:
        each.stop()


def topics(settings) -> dict[str, int]:
    return {settings.TELEMETRY_TOPIC: PARTITIONS, settings.DEAD_LETTER_TOPIC: 1}


def test_consumer_survives_a_broker_restart_without_restarting_or_spinning(
    own_broker, json_telemetry, settings, tmp_path
):
    factory = backends.kafka["default"]
    create_topics(factory.admin(), topics(settings))
    group = settings.TELEMETRY_SERVICES[SERVICE]["GROUP_ID"]
    now_ms = int(time.time() * 1000)
    # The second stream is smaller per partition than the first: the new broker's offsets restart
    # at 0, and a consumer whose position is past the new end resets to the earliest offset, while
    # one inside the new range would skip the messages before it. A real Kafka broker keeps its log
    # across restarts, so this is a limit of the in-memory test broker, not of the consumer.
    before = fleet_stream(800, machines=40, seed=9, now_ms=now_ms - 3_600_000)
    after = [dict(r, identifier=r["identifier"].replace("RL", "RB")) for r in fleet_stream(200, seed=10, now_ms=now_ms)]
    expected = reference_snapshot(settings, SERVICE, before + after)

    encode = json_telemetry.encode
    ends = produce_tracked(
        factory.producer(), settings.TELEMETRY_TOPIC, [(r["identifier"].encode(), encode(r)) for r in before]
    )
    env = process_env(settings, tmp_path, CONSUMER_BATCH_SIZE="100", **quick_group_env())
    store = open_database(real_mongo_uri() or f"litemongo://{tmp_path}", env["MONGO_DB"])
    consumer = ConsumerProcess(env, SERVICE, tmp_path / "consumer.log")
    try:
        wait_until(lambda: committed_offsets(factory, group, settings.TELEMETRY_TOPIC) == ends, 90, 0.5, "first stream")
        assert consumer.alive(), consumer.output()

        own_broker[0].stop()
        lines_before, cpu_before = len(consumer.output().splitlines()), consumer.cpu_seconds()
        time.sleep(OUTAGE_SECONDS)
        assert consumer.alive(), consumer.output()
        cpu_during = consumer.cpu_seconds() - cpu_before
        lines_during = len(consumer.output().splitlines()) - lines_before

        own_broker.append(start_broker(port=own_broker[0].port, log_path=tmp_path / "tansu-2.log"))
        up_at = time.monotonic()
        create_topics(factory.admin(), topics(settings))
        produce_tracked(
            factory.producer(), settings.TELEMETRY_TOPIC, [(r["identifier"].encode(), encode(r)) for r in after]
        )
        wait_until(lambda: snapshot(SERVICE, store) == expected, 90, 0.5, "the second stream")
        recovery = time.monotonic() - up_at
        assert consumer.alive(), consumer.output()
        lines_total = len(consumer.output().splitlines()) - lines_before
        assert consumer.stop() == 0, consumer.output()
    finally:
        consumer.kill()

    # No crash loop: the process idled through the outage instead of spinning on errors.
    assert cpu_during < 0.5 * OUTAGE_SECONDS, f"{cpu_during:.2f}s of CPU in a {OUTAGE_SECONDS}s outage"
    # librdkafka logs each failed connection attempt; at its default backoff this was ~120 lines.
    assert lines_during < 8 * OUTAGE_SECONDS, f"{lines_during} log lines in a {OUTAGE_SECONDS}s outage"
    assert "Traceback" not in consumer.output()
    print(
        f"\nRELIABILITY broker-outage service={SERVICE} before={len(before)} after={len(after)} "
        f"outage_s={OUTAGE_SECONDS} cpu_during_outage_s={cpu_during:.2f} log_lines_during_outage={lines_during} "
        f"log_lines_until_recovered={lines_total} recovered_after_broker_up_s={recovery:.1f} restarts=0 lost=0"
    )
