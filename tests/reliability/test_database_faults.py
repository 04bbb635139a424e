"""Database faults at the pymongo level: the engine raises AutoReconnect while "down" or on every
Nth write. The consumer neither commits nor drops the batch, backs off, and resumes; /ready is 503
meanwhile."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from telemetry_site import backends
from telemetry_site.services import build_consumer_loop
from tests.reliability.faults import FaultSwitch
from tests.reliability.support import (
    ci_size,
    committed_offsets,
    fleet_stream,
    produce_tracked,
    reference_snapshot,
    snapshot,
    telemetry_services,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.broker]

MESSAGES = 2000
BACKOFF, BACKOFF_MAX = 0.05, 0.4


def faulty_database(settings, switch: FaultSwitch) -> None:
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "tests.reliability.faults.open_faulty_database",
            "OPTIONS": {"uri": "mongomock://", "name": f"faulty_{uuid.uuid4().hex[:8]}", "switch": switch},
        }
    }
    settings.CONSUMER_BATCH_SIZE = 100
    settings.CONSUMER_RETRY_BACKOFF_SECONDS = BACKOFF
    settings.CONSUMER_RETRY_BACKOFF_MAX_SECONDS = BACKOFF_MAX


def produce_stream(service, kafka, settings, codec, seed):
    stream = fleet_stream(ci_size(service, MESSAGES), seed=seed)
    ends = produce_tracked(
        kafka.producer(), settings.TELEMETRY_TOPIC, [(r["identifier"].encode(), codec.encode(r)) for r in stream]
    )
    return stream, ends


@pytest.mark.parametrize("service", telemetry_services())
def test_database_down_mid_stream_nothing_committed_nor_dropped_ready_503_then_resumes(
    service, kafka, json_telemetry, settings, client
):
    stream, ends = produce_stream(service, kafka, settings, json_telemetry, seed=3)
    expected = reference_snapshot(settings, service, stream)
    group = settings.TELEMETRY_SERVICES[service]["GROUP_ID"]
    switch = FaultSwitch(down_after_writes=6)  # handler and progress writes: down in the third batch or so
    faulty_database(settings, switch)
    loop = build_consumer_loop(service, idle_timeout=3)
    runner = threading.Thread(target=loop.run, name=f"{service}-loop")
    runner.start()
    try:
        wait_until(lambda: switch.down, 60, 0.01, "the database never went down")
        down_at = time.monotonic()
        wait_until(lambda: loop.stats.retries >= 2, 30, 0.02, "no retry while the database is down")
        committed_while_down = committed_offsets(kafka, group, settings.TELEMETRY_TOPIC)
        assert sum(committed_while_down.values()) < len(stream)
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] == "ok", ready.json()
        assert ready.json()["checks"]["mongodb"].startswith("unavailable: injected"), ready.json()
        outage = 3.0
        time.sleep(outage)
        # Nothing committed during the outage, and the retries backed off instead of spinning.
        assert committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == committed_while_down
        # Backoff doubles from BACKOFF to BACKOFF_MAX, then one retry per BACKOFF_MAX: a hot loop
        # would retry thousands of times.
        retries_during_outage, down_for = loop.stats.retries, time.monotonic() - down_at
        assert retries_during_outage <= 5 + down_for / BACKOFF_MAX, f"{retries_during_outage} in {down_for:.1f}s"
        assert runner.is_alive()

        batches_before = loop.stats.batches
        switch.down = False
        back_at = time.monotonic()
        recovery = wait_until(lambda: loop.stats.batches > batches_before, 30, 0.01, "no batch after the outage")
        assert recovery <= BACKOFF_MAX + 5, f"took {recovery:.1f}s to resume"
        assert client.get("/ready").status_code == 200
        runner.join(60)
        assert not runner.is_alive()
    finally:
        loop.stop()
        runner.join(30)
    assert committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == ends
    assert loop.stats.processed == len(stream) and loop.stats.dead_lettered == 0
    switch.down = False
    assert snapshot(service, backends.databases["default"]) == expected
    print(
        f"\nRELIABILITY db-down service={service} messages={len(stream)} outage_s={outage} "
        f"failed_operations={switch.failures} retries={loop.stats.retries} "
        f"resumed_after_s={recovery:.2f} total_s={time.monotonic() - back_at + outage:.1f} lost=0 double_counted=0"
    )


@pytest.mark.parametrize("service", telemetry_services())
def test_every_third_write_fails_and_the_result_is_still_exact(service, kafka, json_telemetry, settings):
    stream, ends = produce_stream(service, kafka, settings, json_telemetry, seed=4)
    expected = reference_snapshot(settings, service, stream)
    group = settings.TELEMETRY_SERVICES[service]["GROUP_ID"]
    switch = FaultSwitch(every=3)
    faulty_database(settings, switch)
    stats = build_consumer_loop(service, idle_timeout=3).run()
    assert switch.failures >= len(stream) // 100 // 3, switch
    assert stats.retries > 0
    assert stats.processed == len(stream) and stats.dead_lettered == 0
    assert committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == ends
    switch.every = 0
    assert snapshot(service, backends.databases["default"]) == expected
    print(
        f"\nRELIABILITY db-every-3rd service={service} messages={len(stream)} failed_writes={switch.failures} "
        f"retries={stats.retries} lost=0 double_counted=0"
    )


# What a replica set answers during a failover or when a majority lags, besides "unreachable":
# tests/reliability/faults.py raises each as pymongo does (write concern errors after applying the
# write, a lost reply after applying it, the others before).
FAULT_KINDS = ("write_concern", "write_concern_mixed", "execution_timeout", "network_timeout", "not_primary")
MESSAGES_PER_FAULT = 100


@pytest.mark.parametrize("service", telemetry_services())
def test_write_concern_errors_and_server_timeouts_commit_nothing_and_the_batch_persists_once_they_clear(
    service, kafka, json_telemetry, settings
):
    """One fault kind per chunk of the stream: the database fails before the chunk is produced, so
    the chunk's batch meets it. While it lasts the loop retries and commits nothing (a write
    concern error means the write may be rolled back); once it clears the batch is committed, and
    the final state equals an uninterrupted run's."""
    stream = fleet_stream(MESSAGES_PER_FAULT * len(FAULT_KINDS), seed=5)
    expected = reference_snapshot(settings, service, stream)
    group, topic = settings.TELEMETRY_SERVICES[service]["GROUP_ID"], settings.TELEMETRY_TOPIC
    switch = FaultSwitch()
    faulty_database(settings, switch)
    loop = build_consumer_loop(service)
    runner = threading.Thread(target=loop.run, name=f"{service}-loop")
    runner.start()
    producer, ends = kafka.producer(), dict.fromkeys(range(4), 0)
    try:
        for index, kind in enumerate(FAULT_KINDS):
            switch.kind, switch.down = kind, True
            retries = loop.stats.retries
            chunk = stream[index * MESSAGES_PER_FAULT : (index + 1) * MESSAGES_PER_FAULT]
            committed_before = dict(ends)
            produced = produce_tracked(
                producer, topic, [(r["identifier"].encode(), json_telemetry.encode(r)) for r in chunk]
            )
            ends.update({partition: max(ends[partition], end) for partition, end in produced.items()})
            wait_until(lambda r=retries: loop.stats.retries >= r + 2, 30, 0.01, f"{kind}: the batch was not retried")
            assert runner.is_alive(), f"{kind} stopped the loop"
            assert committed_offsets(kafka, group, topic) == committed_before, f"{kind}: committed during the fault"
            switch.down = False
            wait_until(lambda: committed_offsets(kafka, group, topic) == ends, 30, 0.1, f"{kind}: not committed after")
    finally:
        loop.stop()
        runner.join(30)
    assert loop.stats.processed == len(stream) and loop.stats.dead_lettered == 0
    assert snapshot(service, backends.databases["default"]) == expected
    print(
        f"\nRELIABILITY db-fault-kinds service={service} kinds={len(FAULT_KINDS)} messages={len(stream)} "
        f"failed_operations={switch.failures} retries={loop.stats.retries} lost=0 double_counted=0"
    )
