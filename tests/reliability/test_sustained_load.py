"""Sustained load: a steady stream for RELIABILITY_LOAD_SECONDS into a consumer process whose
memory (VmRSS) is sampled every second: no growth beyond the bound, and the lag returns to zero
once the stream stops."""

from __future__ import annotations

import time

import pytest

from telemetry_site.databases import open_database
from tests.processes import process_env, quick_group_env, real_mongo_uri
from tests.reliability.support import (
    ConsumerProcess,
    committed_offsets,
    env_int,
    fleet_stream,
    telemetry_services,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.broker]

SECONDS = env_int("RELIABILITY_LOAD_SECONDS", 30)
# Messages a second per service. History's rate is low in CI: litemongo checks its unique index by
# scanning the collection, so its cost per insert grows with the positions stored (docs/RELIABILITY.md).
RATES = {
    "current": env_int("RELIABILITY_LOAD_RATE", 200),
    "history": env_int("RELIABILITY_LOAD_RATE_HISTORY", 10),
    "usage": env_int("RELIABILITY_LOAD_RATE_USAGE", 10),
}
# RSS may grow this much between the end of the warm-up (first quarter) and the end of the run.
RSS_GROWTH_BOUND_KIB = 16 * 1024
LAG_TIMEOUT = 90


@pytest.mark.parametrize("service", telemetry_services())
def test_steady_stream_memory_stays_bounded_and_lag_returns_to_zero(service, kafka, json_telemetry, settings, tmp_path):
    rate = RATES.get(service, 50)
    stream = fleet_stream(rate * SECONDS, machines=100, seed=13)
    env = process_env(settings, tmp_path, **quick_group_env())
    store = open_database(real_mongo_uri() or f"litemongo://{tmp_path}", env["MONGO_DB"])
    group = settings.TELEMETRY_SERVICES[service]["GROUP_ID"]
    consumer = ConsumerProcess(env, service, tmp_path / f"{service}.log")
    producer = kafka.producer()
    ends: dict[int, int] = {}

    def delivered(err, msg) -> None:
        assert err is None, err
        ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    samples: list[tuple[float, int]] = []
    try:
        started = time.monotonic()
        next_sample = started
        for i, record in enumerate(stream):
            # One record per produce call and poll: Tansu counts a produced batch as one offset in
            # its end offsets, so the lag below compares commits with the delivery reports instead.
            while time.monotonic() < started + i / rate:
                time.sleep(0.002)
            producer.produce(
                settings.TELEMETRY_TOPIC,
                key=record["identifier"].encode(),
                value=json_telemetry.encode(record),
                on_delivery=delivered,
            )
            producer.poll(0)
            if time.monotonic() >= next_sample:
                assert consumer.alive(), consumer.output()
                samples.append((time.monotonic() - started, consumer.rss_kib()))
                next_sample += 1.0
        assert producer.flush(30) == 0
        produced_in = time.monotonic() - started
        drained = wait_until(
            lambda: committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == ends,
            LAG_TIMEOUT,
            0.5,
            "the lag never returned to zero",
        )
        samples.append((time.monotonic() - started, consumer.rss_kib()))
        assert consumer.stop() == 0, consumer.output()
    finally:
        consumer.kill()

    assert sum(ends.values()) == len(stream)
    warm = [rss for at, rss in samples if at <= SECONDS / 4]
    late = [rss for at, rss in samples if at > SECONDS / 4]
    assert warm and late, samples
    growth = max(late) - max(warm)
    assert growth <= RSS_GROWTH_BOUND_KIB, f"RSS grew {growth} KiB after warm-up: {samples}"
    if service == "current":
        assert store.current_state.count_documents({}) == 100
    print(
        f"\nRELIABILITY load service={service} seconds={SECONDS} rate={rate}/s messages={len(stream)} "
        f"produced_in_s={produced_in:.1f} rss_warm_max_mib={max(warm) / 1024:.1f} rss_max_mib={max(late) / 1024:.1f} "
        f"growth_after_warmup_mib={growth / 1024:.1f} bound_mib={RSS_GROWTH_BOUND_KIB / 1024:.0f} "
        f"lag_zero_after_s={drained:.1f}"
    )
