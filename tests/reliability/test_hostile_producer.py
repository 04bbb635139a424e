"""A hostile producer, through the real broker, against each service's consumer process.

The kinds of message that crashed (exit 1) or wedged (retrying forever) the ``current`` consumer
(issue 15), and the others a careless producer sends, are produced between valid records. Each
service's command runs as an operator runs it — a separate process, JSON codec, litemongo store —
and must exit 0 on its idle timeout with every partition committed to its end (lag 0), every valid
record persisted, and every hostile message dead-lettered exactly once with its reason. The
dead-letter size limit is set to 64 KiB so that the 300 KB message takes the cut path for real.
"""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from telemetry_site.databases import open_database
from tests.processes import process_env, real_mongo_uri, start_command
from tests.reliability.support import committed_offsets, produce_positions

pytestmark = [pytest.mark.reliability, pytest.mark.broker]

SERVICES = ("current", "history", "usage", "registry")
VALID = 30
DEAD_LETTER_MAX_BYTES = 65_536
DEEP = 5000


def valid_record(service: str, index: int, now_ms: int) -> dict:
    timestamp = now_ms - 3_600_000 + index * 60_000
    if service == "registry":
        return {"identifier": f"V{index:03d}", "brand": "Caterpillar", "hourly_rate": 50.0, "last_update": timestamp}
    return {
        "identifier": f"V{index:03d}",
        "timestamp": timestamp,
        "description": {"brand": "Caterpillar", "model": "320"},
        "location": {"address": "Via Roma 1", "GPS": {"latitude": 45.0, "longitude": 9.0}},
        "c40": {"odometry": {"hours_tot": 100.0 + index, "km_tot": 1000.0 + index}},
    }


def hostile_kinds(service: str, now_ms: int) -> dict[str, tuple[bytes, str]]:
    """kind -> (the message's bytes, a part of the reason its dead letter must give)."""
    base = valid_record(service, 0, now_ms)
    base["identifier"] = "H999"
    number = "hourly_rate" if service == "registry" else "c40"
    text_field = "brand" if service == "registry" else "description"

    def with_field(path: tuple, value: object) -> dict:
        record = json.loads(json.dumps(base))
        parent = record
        for step in path[:-1]:
            parent = parent.setdefault(step, {})
        parent[path[-1]] = value
        return record

    def raw(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    def dumped(record: dict) -> bytes:
        return json.dumps(record).encode()

    number_path = ("hourly_rate",) if number == "hourly_rate" else ("c40", "odometry", "km_tot")
    number_name = "hourly_rate" if number == "hourly_rate" else "c40.odometry.km_tot"
    brand_path = ("brand",) if text_field == "brand" else ("description", "brand")
    brand_name = "brand" if text_field == "brand" else "description.brand"
    kinds = {
        "deep-top": (b"[" * DEEP + b"]" * DEEP, "decode: not JSON: RecursionError"),
        "deep-field": (
            dumped(with_field(brand_path, "DEEP")).replace(b'"DEEP"', b"[" * DEEP + b"]" * DEEP),
            "decode: not JSON: RecursionError",
        ),
        "int-past-float": (
            dumped(with_field(number_path, 10**400)),
            f"validation: {number_name}: an integer of 401 digits does not fit in 64 bits",
        ),
        "int-past-64-bits": (
            dumped(with_field(number_path, 2**64)),
            f"validation: {number_name}: an integer of 20 digits does not fit in 64 bits",
        ),
        "nan": (dumped(with_field(number_path, float("nan"))), f"validation: {number_name}: must be finite"),
        "exponent-past-a-float": (  # json.loads reads 1e999999 as inf
            dumped(with_field(number_path, "N")).replace(b'"N"', b"1e999999"),
            f"validation: {number_name}: must be finite, got inf",
        ),
        "digits-past-python-s-limit": (
            dumped(with_field(number_path, "N")).replace(b'"N"', b"9" * 5000),
            "decode: not JSON: ValueError: Exceeds the limit (4300 digits)",
        ),
        "lone-surrogate-identifier": (
            dumped(with_field(("identifier",), "EX\udc80")),  # valid JSON: "EX\udc80", escaped
            "validation: identifier: U+DC80 at 2 is a lone surrogate",
        ),
        # Not UTF-8 at all, yet json.loads takes it (it decodes bytes with "surrogatepass"): validation refuses.
        "raw-surrogate-bytes": (
            raw(json.dumps(with_field(("identifier",), "EX\udc80"), ensure_ascii=False)),
            "validation: identifier: U+DC80 at 2 is a lone surrogate",
        ),
        "nul-identifier": (dumped(with_field(("identifier",), "EX\x00001")), "identifier: U+0000 at 2"),
        "c1-brand": (dumped(with_field(brand_path, "Cat\x85")), f"{brand_name}: U+0085 at 3"),
        "escape-brand": (dumped(with_field(brand_path, "\x1b[31mCat")), f"{brand_name}: U+001B at 0"),
        "non-character-brand": (dumped(with_field(brand_path, "Cat\uffff")), f"{brand_name}: U+FFFF at 3"),
        "huge-brand": (
            dumped(with_field(brand_path, "b" * 300_000)),
            f"validation: {brand_name}: 300000 characters, more than 1024",
        ),
        "garbage": (b"\xff\xfe\x00garbage", "decode: not JSON"),
        "empty": (b"", "decode: not JSON"),
        "json-array": (b"[1, 2]", "decode: expected a JSON object, got list"),
        "json-null": (b"null", "decode: expected a JSON object, got NoneType"),
        "wrong-type": (dumped(with_field(("identifier",), 7)), "decode: violates schema"),
        "missing-identifier": (dumped({k: v for k, v in base.items() if k != "identifier"}), "decode: violates"),
    }
    if service == "registry":
        kinds["negative-rate"] = (dumped(with_field(("hourly_rate",), -5.0)), "validation: hourly_rate: -5.0")
    else:
        kinds["latitude-123"] = (
            dumped(with_field(("location", "GPS", "latitude"), 123.0)),
            "validation: location.GPS.latitude: 123.0 is outside",
        )
    return kinds


def persisted(service: str, database, record: dict) -> bool:
    identifier = record["identifier"]
    if service == "current":
        return database.current_state.count_documents({"_id": identifier}) == 1
    if service == "history":
        return database.positions.count_documents({"identifier": identifier}) == 1
    if service == "usage":
        return database.usage_last_readings.count_documents({"_id": identifier}) == 1
    return database.equipment_registry.count_documents({"_id": f"{identifier}|{record['last_update']}"}) == 1


def read_dead_letters(kafka, topic: str, expected: int, timeout: float = 30) -> list:
    """Every record of the (one-partition) dead-letter topic, read by assignment: no group to join."""
    consumer = kafka.consumer(f"dlq-reader-{time.monotonic_ns()}")
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found, deadline = [], time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            found += [m for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        found += [m for m in consumer.consume(100, timeout=0.5) if m.error() is None]  # and no more
    finally:
        consumer.close()
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_messages_between_valid_ones_exit_0_lag_0_each_dead_lettered_once(service, kafka, settings, tmp_path):
    now_ms = int(time.time() * 1000)
    kinds = hostile_kinds(service, now_ms)
    valid = [valid_record(service, index, now_ms) for index in range(VALID)]
    # A field no schema names is dropped, as Avro drops it: such a record is valid, and is persisted.
    valid[5]["_id"] = {"$set": "other"}
    valid[6]["extra\x00key"] = [[[]]]
    names = sorted(kinds)
    stream: list[tuple[str | None, bytes]] = []
    for index, record in enumerate(valid):
        stream.append((None, json.dumps(record).encode()))
        if index < len(names):
            stream.append((names[index], kinds[names[index]][0]))
    for name in names[len(valid) :]:
        stream.append((name, kinds[name][0]))
    topic = settings.REGISTRY_TOPIC if service == "registry" else settings.TELEMETRY_TOPIC
    positions = produce_positions(kafka.producer(), topic, [(b"k%d" % i, value) for i, (_, value) in enumerate(stream)])
    hostile_at = {positions[i]: name for i, (name, _) in enumerate(stream) if name is not None}
    assert len(hostile_at) == len(kinds) >= 21

    env = process_env(settings, tmp_path, CONSUMER_BATCH_SIZE="10", DEAD_LETTER_MAX_BYTES=str(DEAD_LETTER_MAX_BYTES))
    command = (
        ["consume_equipment_registry"]
        if service == "registry"
        else ["consume_equipment_telemetry", "--service", service]
    )
    started = time.monotonic()
    process = start_command(env, *command, "--idle-timeout", "2")
    try:
        output, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    elapsed = time.monotonic() - started
    assert process.returncode == 0, output[-3000:]
    assert f"{service}: {len(stream)} messages" in output, output[-3000:]

    # Lag 0: every partition committed to the end of what was delivered to it.
    ends: dict[int, int] = {}
    for partition, offset in positions:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    group = settings.TELEMETRY_SERVICES[service]["GROUP_ID"]
    committed = committed_offsets(kafka, group, topic, partitions=2 if service == "registry" else 4)
    assert {p: o for p, o in committed.items() if p in ends} == ends

    letters = read_dead_letters(kafka, settings.DEAD_LETTER_TOPIC, len(kinds))
    origins = [(int(h["dlq.origin.partition"]), int(h["dlq.origin.offset"])) for h in map(headers_of, letters)]
    assert len(origins) == len(set(origins)) == len(kinds), "each hostile message dead-lettered exactly once"
    unexplained = []
    for letter, origin in zip(letters, origins, strict=True):
        headers = headers_of(letter)
        kind = hostile_at.pop(origin)
        if kinds[kind][1] not in headers["dlq.error"]:
            unexplained.append((kind, headers["dlq.error"][:200]))
        if kind == "huge-brand":
            assert headers["dlq.value.cut"] == "true" and int(headers["dlq.value.size"]) > 300_000
            assert len(letter.value()) == 1024
        else:
            assert letter.value() == kinds[kind][0] or (not letter.value() and not kinds[kind][0]), kind
    assert not hostile_at and not unexplained, unexplained

    store = open_database(real_mongo_uri() or f"litemongo://{tmp_path}", env["MONGO_DB"])
    missing = [record["identifier"] for record in valid if not persisted(service, store, record)]
    assert not missing
    print(
        f"\nRELIABILITY hostile service={service} valid={len(valid)} hostile={len(kinds)} exit=0 lag=0 "
        f"dead_lettered={len(letters)} s={elapsed:.1f}"
    )


def headers_of(letter) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in letter.headers()}
