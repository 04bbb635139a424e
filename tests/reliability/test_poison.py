"""Poison messages: 1,000 malformed records of many kinds mixed into a valid Avro stream. Each is
dead-lettered with its reason (decode error or a validation rule of stream.validation),
every valid record is processed, nothing crashes, and the state is that of the valid stream alone."""

from __future__ import annotations

import math
import random
import time

import pytest

from telemetry_site import backends
from telemetry_site.services import build_consumer_loop
from tests.factories import telemetry
from tests.reliability.support import (
    ci_size,
    fleet_stream,
    produce_positions,
    reference_snapshot,
    snapshot,
    telemetry_services,
    use_fresh_database,
)

pytestmark = [pytest.mark.reliability, pytest.mark.broker]

POISON = 1000
VALID = 2000
YEAR_MS = 365 * 86_400_000
# Kinds the codec refuses; every other kind decodes and breaks a rule of stream.validation.
DECODE_ERRORS = frozenset(
    {"truncated-avro", "wrong-magic-byte", "unknown-schema-id", "empty", "trailing-bytes", "garbage-body"}
)


def poison_kinds(codec, now_ms: int) -> dict[str, tuple]:
    """kind -> (bytes of the message, the reason its dead letter must give)."""

    def avro(**changes) -> bytes:
        return codec.encode(telemetry("RL001", now_ms - 60_000, **changes))

    valid = avro()
    schema_id = valid[1:5]
    by_timestamp = {
        "year-2300": now_ms + 274 * YEAR_MS,
        "year-1970": 86_400_000,
    }
    kinds = {
        "truncated-avro": (valid[:-7], "Avro body does not decode"),
        "wrong-magic-byte": (b"\x01" + valid[1:], "unknown magic byte 1"),
        "unknown-schema-id": (b"\x00" + (987_654).to_bytes(4, "big") + valid[5:], "unknown schema id 987654"),
        "empty": (b"", "message of 0 bytes is shorter than the wire-format header"),
        "trailing-bytes": (valid + b"\x00\x00", "2 trailing bytes after the Avro body"),
        "garbage-body": (b"\x00" + schema_id + b"\xff" * 40, "Avro body does not decode"),
        "latitude-123": (avro(latitude=123.0), "location.GPS.latitude: 123.0 is outside [-90.0, 90.0]"),
        "longitude-minus-200": (avro(longitude=-200.0), "location.GPS.longitude: -200.0 is outside"),
        "negative-hours": (avro(hours=-3.0), "c40.odometry.hours_tot: -3.0 is outside"),
        "negative-km": (avro(km=-0.5), "c40.odometry.km_tot: -0.5 is outside"),
        "nan-km": (avro(km=math.nan), "c40.odometry.km_tot: must be finite"),
        "infinite-fuel": (avro(fuel_used=math.inf), "c40.fuel.used_tot_l: must be finite"),
        "fuel-level-150": (avro(fuel_level=150.0), "c40.fuel.level_pct: 150.0 is outside [0.0, 100.0]"),
        "huge-address": (avro(address="x" * 200_000), "location.address: 200000 characters, more than 1024"),
        "huge-model": (avro(model="m" * 5000), "description.model: 5000 characters, more than 1024"),
        "huge-poi-list": (avro(pois=[f"s{i}" for i in range(500)]), "location.pointsOfInterest: 500 entries"),
        "huge-poi-name": (avro(pois=["p" * 3000]), "location.pointsOfInterest: each entry needs a name"),
        "latitude-without-longitude": (avro(longitude=None), "location.GPS: latitude and longitude must both"),
        "blank-identifier": (
            codec.encode(telemetry("  ", now_ms - 60_000)),
            "identifier: must be a non-empty string",
        ),
        # Characters no API format can carry (validation.storable_problems), in the fields served.
        "nul-in-identifier": (codec.encode(telemetry("RL\x00001", now_ms - 60_000)), "identifier: U+0000 at 2"),
        "c1-control-in-brand": (avro(brand="Cat\x85"), "description.brand: U+0085 at 3"),
        "escape-in-model": (avro(model="\x1b[2J320"), "description.model: U+001B at 0"),
        "non-character-in-address": (avro(address="Via Roma \uffff"), "location.address: U+FFFF at 9"),
        "newline-in-poi-name": (avro(pois=["site\n1"]), "location.pointsOfInterest[0].name: U+000A at 4"),
        "nan-fuel-level": (avro(fuel_level=math.nan), "c40.fuel.level_pct: must be finite"),
    }
    for kind, timestamp in by_timestamp.items():
        kinds[kind] = (
            codec.encode(telemetry("RL002", timestamp)),
            f"timestamp: {timestamp} is outside the plausible window",
        )
    return kinds


def read_dead_letters(kafka, topic: str, expected: int, timeout: float = 60) -> list:
    consumer = kafka.consumer(f"dlq-reader-{time.monotonic_ns()}", [topic])
    found, deadline = [], time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            found += [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]
    finally:
        consumer.close()
    return found


@pytest.mark.parametrize("service", telemetry_services())
def test_a_thousand_poison_messages_are_dead_lettered_with_their_reason_and_the_rest_processed(
    service, kafka, avro, settings
):
    codec = avro["telemetry"]
    now_ms = int(time.time() * 1000)
    valid = fleet_stream(ci_size(service, VALID), seed=5, now_ms=now_ms)
    expected = reference_snapshot(settings, service, valid)
    kinds = poison_kinds(codec, now_ms)
    assert len(kinds) >= 27
    names = sorted(kinds)
    rng = random.Random(f"poison-{service}")
    stream: list[tuple[str | None, bytes | None, bytes]] = [
        (None, r["identifier"].encode(), codec.encode(r)) for r in valid
    ]
    for i in range(POISON):
        kind = names[i % len(names)]
        stream.insert(rng.randrange(len(stream) + 1), (kind, f"RL{i % 50:03d}".encode(), kinds[kind][0]))
    positions = produce_positions(kafka.producer(), settings.TELEMETRY_TOPIC, [(k, v) for _, k, v in stream])
    poison_at = {positions[i]: (kind, value) for i, (kind, _, value) in enumerate(stream) if kind is not None}
    assert len(poison_at) == POISON

    database = use_fresh_database(settings)
    settings.CONSUMER_BATCH_SIZE = 250
    started = time.monotonic()
    stats = build_consumer_loop(service, idle_timeout=3).run()
    elapsed = time.monotonic() - started
    assert (stats.messages, stats.processed, stats.dead_lettered) == (len(stream), len(valid), POISON)

    letters = read_dead_letters(kafka, settings.DEAD_LETTER_TOPIC, POISON)
    assert len(letters) == POISON
    unexplained = []
    for letter in letters:
        headers = {name: value.decode() for name, value in letter.headers()}
        origin = (int(headers["dlq.origin.partition"]), int(headers["dlq.origin.offset"]))
        kind, value = poison_at.pop(origin)
        reason = kinds[kind][1]
        assert headers["dlq.service"] == service and headers["dlq.origin.topic"] == settings.TELEMETRY_TOPIC
        assert letter.value() == value or (not value and not letter.value()), kind
        category = "decode" if kind in DECODE_ERRORS else "validation"
        if not (headers["dlq.error"].startswith(f"{category}: ") and reason in headers["dlq.error"]):
            unexplained.append((kind, headers["dlq.error"][:200]))
    assert not poison_at, "poison messages missing from the dead-letter topic"
    assert not unexplained, unexplained[:5]
    assert snapshot(service, backends.databases["default"]) == expected
    assert database is backends.databases["default"]
    print(
        f"\nRELIABILITY poison service={service} valid={len(valid)} poison={POISON} kinds={len(kinds)} "
        f"dead_lettered={stats.dead_lettered} processed={stats.processed} lost=0 crashed=0 s={elapsed:.1f}"
    )
