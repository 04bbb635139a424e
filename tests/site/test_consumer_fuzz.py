"""Fuzzing the whole consumer path of every service: decode -> validate -> handler -> dead letters.

Hypothesis builds batches of valid records mixed with hostile messages — arbitrary bytes, arbitrary
JSON values (deep nesting, huge and tiny numbers, every Unicode category with lone surrogates and
controls, long strings), valid records with one field replaced by such a value, JSON nested
thousands deep, numbers past 64 bits and past a float, strings past every limit — and runs them
through the real ``ConsumerLoop`` with each service's real codec, validator (``build_validator``),
handler and repositories on mongomock-ng; only the broker is a fake (``kafka_fakes``). The property:

- nothing raises out of the loop, and it commits past every message;
- every valid record is persisted;
- every other message is either dead-lettered exactly once, with a ``decode:`` or ``validation:``
  reason, or was acceptable after all (it decodes and validates: a replaced field may be valid);
- no record that validation accepted fails in a handler (``handler:`` dead letters would mean that
  validation lets through something a repository cannot store: a bug to fix there).

CI runs ``FUZZ_EXAMPLES`` (default 25) examples per service. The long run::

    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/site/test_consumer_fuzz.py -p no:timeout -s
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from django.conf import settings
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st

from equipment_current.handlers import CurrentStateHandler
from equipment_current.repository import CurrentStateRepository
from equipment_history.handlers import PositionHistoryHandler
from equipment_history.repository import PositionRepository
from equipment_usage.handlers import UsageHandler, usage_rules
from equipment_usage.handlers_registry import EquipmentRegistryHandler
from equipment_usage.publisher import UsagePublisher
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_registry import EquipmentRegistryRepository
from stream.codecs import JsonCodec
from stream.consumer import ConsumerLoop
from stream.dead_letters import DeadLetterSink
from telemetry_site.databases import open_database
from telemetry_site.services import build_validator
from tests.properties import property_settings
from tests.site.kafka_fakes import FakeConsumer, FakeMessage, FakeProducer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# What the runs saw, per test: printed as one "FUZZ ..." line (pytest -s), for docs/RELIABILITY.md.
FIGURES: Counter = Counter()
SERVICES = ("current", "history", "usage", "registry")
SCHEMAS = {
    "current": "c40_enriched.avsc",
    "history": "c40_enriched.avsc",
    "usage": "c40_enriched.avsc",
    "registry": "equipment_registry.avsc",
}
DEAD_LETTER_MAX_BYTES = 20_000  # small, so that long hostile messages take the cut path
NOW = int(time.time() * 1000)
HOUR = 3_600_000
# Every field path of the two records, for "a valid record with one field replaced".
TELEMETRY_PATHS = [
    ("identifier",),
    ("timestamp",),
    ("base",),
    ("base", "code"),
    ("description",),
    ("description", "brand"),
    ("description", "model"),
    ("location",),
    ("location", "address"),
    ("location", "GPS"),
    ("location", "GPS", "latitude"),
    ("location", "GPS", "longitude"),
    ("location", "pointsOfInterest"),
    ("location", "pointsOfInterest", 0),
    ("location", "pointsOfInterest", 0, "name"),
    ("c40",),
    ("c40", "odometry"),
    ("c40", "odometry", "hours_tot"),
    ("c40", "odometry", "km_tot"),
    ("c40", "engine", "running"),
    ("c40", "fuel", "used_tot_l"),
    ("c40", "fuel", "level_pct"),
]
REGISTRY_PATHS = [
    (name,)
    for name in ("identifier", "serial_number", "brand", "model", "hourly_rate", "km_rate", "currency", "last_update")
]


# --- strategies -------------------------------------------------------------------------------------

every_character = st.characters(codec=None)  # every category: controls, surrogates, unassigned
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**53, max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**400, -(10**400)])
    | st.floats()
    | st.sampled_from([5e-324, 1e308, -0.0])
    | st.text(every_character, max_size=12)
    | st.sampled_from(["", " ", "\x00", "\ud800", "\udc80", "\x85", "\ufffe", "\uffff", "\u2028", "EX\t1"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(every_character, max_size=6), children),
    max_leaves=12,
)
long_strings = st.builds(
    lambda character, size: character * size, st.sampled_from("aé日\U0001f69c\x00"), st.integers(1000, 60_000)
)
deep_json = st.builds(
    lambda depth, opener, closer: opener * depth + "1" + closer * depth,
    st.integers(17, 5000),
    st.sampled_from(["["]),
    st.sampled_from(["]"]),
) | st.builds(lambda depth: '{"a":' * depth + "1" + "}" * depth, st.integers(17, 5000))
# Values of a field's own JSON type that are hostile anyway: what passes the schema and must be
# stopped (or safely stored) by validation.
hostile_strings = st.text(every_character, max_size=30) | st.sampled_from(
    ["", " ", "\x00", "EX\x00001", "\ud800", "EX\udc80", "\x85", "\ufffe", "\uffff", "\u2028", "EX\t1", "\x1b[31m"]
)
hostile_numbers = (
    st.integers()
    | st.integers(min_value=2**53, max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**400, -(10**400), 0, -1])
    | st.floats()
    | st.sampled_from([5e-324, 1e308, -1e308, -0.0, 1.7976931348623157e308])
)
STRING_FIELDS = {"identifier", "code", "brand", "model", "address", "name", "serial_number", "currency"}
NUMBER_FIELDS = {"timestamp", "latitude", "longitude", "hours_tot", "km_tot", "used_tot_l", "level_pct"}
NUMBER_FIELDS |= {"hourly_rate", "km_rate", "last_update"}


def valid_telemetry(index: int, offset_ms: int) -> dict:
    hours = 100.0 + index
    return {
        "identifier": f"V{index}",
        "timestamp": NOW - 2 * HOUR + offset_ms,
        "base": {"code": "MI01"},
        "description": {"brand": "Caterpillar", "model": "320"},
        "location": {
            "address": "Via Roma 1",
            "GPS": {"latitude": 45.0 + index / 1000, "longitude": 9.0},
            "pointsOfInterest": [{"name": "site-1"}],
        },
        "c40": {
            "odometry": {"hours_tot": hours, "km_tot": hours * 10},
            "engine": {"running": True},
            "fuel": {"used_tot_l": hours * 2, "level_pct": 50.0},
        },
    }


def valid_registry(index: int, offset_ms: int) -> dict:
    return {
        "identifier": f"V{index}",
        "serial_number": f"SN{index}",
        "brand": "Caterpillar",
        "model": "320",
        "hourly_rate": 50.0,
        "km_rate": 1.5,
        "currency": "EUR",
        "last_update": NOW - 2 * HOUR + offset_ms,
    }


def replaced(record: dict, path: tuple, value: Any) -> dict:
    """A copy of ``record`` with the value at ``path`` replaced (parents made as needed)."""
    record = json.loads(json.dumps(record))
    parent: Any = record
    for step in path[:-1]:
        child = parent[step] if (isinstance(parent, list) and step < len(parent)) or step in parent else None
        if not isinstance(child, (dict, list)):
            child = {} if not isinstance(path[path.index(step) + 1], int) else [None]
            parent[step] = child
        parent = child
    if isinstance(parent, list):
        parent[0] = value
    else:
        parent[path[-1]] = value
    return record


def encoded(value: Any, ascii_only: bool) -> bytes:
    """JSON as a careless producer writes it: escaped (``\\udc80`` is valid JSON), or raw UTF-8
    with surrogates passed through (not valid UTF-8 at all)."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def hostile_messages(draw: Any, service: str) -> bytes | None:
    valid = valid_registry(999, 0) if service == "registry" else valid_telemetry(999, 0)
    valid["identifier"] = f"H{draw(st.integers(0, 10**6))}"
    paths = REGISTRY_PATHS if service == "registry" else TELEMETRY_PATHS
    kind = draw(
        st.sampled_from(
            ["bytes", "json", "field", "deep", "deep-field", "long-field", "none", "raw-number"] + ["typed-field"] * 5
        )
    )
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "none":
        return None
    if kind == "json":
        return encoded(draw(json_values), draw(st.booleans()))
    if kind == "deep":
        return draw(deep_json).encode()
    path = draw(st.sampled_from(paths))
    if kind == "deep-field":
        text = json.dumps(replaced(valid, path, "DEEP"))
        depth = draw(st.integers(20, 5000))
        return text.replace('"DEEP"', "[" * depth + "]" * depth).encode()
    if kind == "raw-number":  # number literals json.loads turns into inf, 0.0, or refuses (4,300 digits)
        path = draw(st.sampled_from([p for p in paths if p[-1] in NUMBER_FIELDS]))
        literal = draw(st.sampled_from(["9" * 5000, "-" + "9" * 4301, "1e999999", "-1e400", "1e-400", "9" * 30]))
        return json.dumps(replaced(valid, path, "NUMBER")).replace('"NUMBER"', literal).encode()
    if kind == "typed-field":
        path = draw(st.sampled_from([p for p in paths if p[-1] in STRING_FIELDS | NUMBER_FIELDS]))
        value = draw(hostile_strings if path[-1] in STRING_FIELDS else hostile_numbers)
    else:
        value = draw(long_strings) if kind == "long-field" else draw(json_values)
    return encoded(replaced(valid, path, value), draw(st.booleans()))


@st.composite
def streams(draw: Any, service: str) -> tuple[list[bytes | None], set[int], list[int]]:
    """Messages (valid and hostile mixed), the positions of the valid ones, and batch sizes."""
    build = valid_registry if service == "registry" else valid_telemetry
    count = draw(st.integers(1, 16))
    messages: list[bytes | None] = []
    valid_at: set[int] = set()
    for index in range(count):
        if draw(st.booleans()):
            valid_at.add(index)
            messages.append(json.dumps(build(index, index * 60_000)).encode())
        else:
            messages.append(draw(hostile_messages(service)))
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=count))
    return messages, valid_at, sizes


def known_stream(service: str) -> tuple[list[bytes | None], set[int], list[int]]:
    """The issue's kinds, always run (hypothesis' explicit example) whatever the draws find: JSON
    nested 5,000 deep at the top and in a field, integers past a float and past 64 bits, an escaped
    and a raw lone surrogate, NUL and C1 characters, NaN and 1e999999, 5,000 digits, a 30,000-
    character field, and a field no schema names, between two valid records."""
    build = valid_registry if service == "registry" else valid_telemetry
    base = build(50, 0)
    base["identifier"] = "H50"
    number = ("hourly_rate",) if service == "registry" else ("c40", "odometry", "km_tot")
    text = ("brand",) if service == "registry" else ("description", "brand")

    def raw_number(literal: str) -> bytes:
        return json.dumps(replaced(base, number, "N")).replace('"N"', literal).encode()

    hostile = [
        b"[" * 5000 + b"]" * 5000,
        json.dumps(replaced(base, text, "D")).replace('"D"', "[" * 5000 + "]" * 5000).encode(),
        encoded(replaced(base, number, 10**400), True),
        encoded(replaced(base, number, 2**64), True),
        encoded(replaced(base, ("identifier",), "EX\udc80"), True),
        encoded(replaced(base, ("identifier",), "EX\udc80"), False),
        encoded(replaced(base, ("identifier",), "EX\x00001"), True),
        encoded(replaced(base, text, "Cat\x85"), False),
        raw_number("NaN"),
        raw_number("1e999999"),
        raw_number("9" * 5000),
        encoded(replaced(base, text, "b" * 30_000), True),
    ]
    extra = {**build(51, 60_000), "_id": {"$set": 1}, "x\x00": [[[]]]}
    messages = [
        json.dumps(build(0, 0)).encode(),
        *hostile,
        json.dumps(extra).encode(),
        json.dumps(build(1, 0)).encode(),
    ]
    return messages, {0, len(messages) - 2, len(messages) - 1}, [4]


# --- the path under test ------------------------------------------------------------------------------


def handler_of(service: str, database: Any) -> Any:
    if service == "current":
        repository = CurrentStateRepository(database)
        repository.ensure_indexes()
        return CurrentStateHandler(repository)
    if service == "history":
        repository = PositionRepository(database)
        repository.ensure_indexes()
        return PositionHistoryHandler(repository)
    registry = EquipmentRegistryRepository(database)
    registry.ensure_indexes()
    if service == "registry":
        return EquipmentRegistryHandler(registry)
    usage = UsageRepository(database)
    usage.ensure_indexes()
    # The real publisher with its real codec (JSON, strict): only its producer is a fake.
    publisher = UsagePublisher(FakeProducer(), JsonCodec("usage.avsc"), "usage")
    return UsageHandler(usage, registry, publisher, usage_rules())


def persisted(service: str, database: Any, index: int, record: dict) -> bool:
    identifier = record["identifier"]
    if service == "current":
        return database.current_state.count_documents({"_id": identifier}) == 1
    if service == "history":
        return database.positions.count_documents({"identifier": identifier}) == 1
    if service == "usage":
        return database.usage_last_readings.count_documents({"_id": identifier}) == 1
    return database.equipment_registry.count_documents({"_id": f"{identifier}|{record['last_update']}"}) == 1


def run_stream(
    service: str, messages: list[bytes | None], sizes: list[int], codec: Any = None
) -> tuple[Any, Any, Any, Any]:
    database = open_database("mongomock://", f"fuzz_{uuid.uuid4().hex[:8]}")
    batches, position = [], 0
    fakes = [FakeMessage(value, b"k", "telemetry", 0, offset) for offset, value in enumerate(messages)]
    for size in sizes * len(messages):
        if position >= len(fakes):
            break
        batches.append(fakes[position : position + size])
        position += size
    consumer, producer = FakeConsumer(batches), FakeProducer()
    loop = ConsumerLoop(
        consumer=consumer,
        codec=codec or JsonCodec(SCHEMAS[service]),
        handler=handler_of(service, database),
        dead_letters=DeadLetterSink(producer, "deadletter", service, max_bytes=DEAD_LETTER_MAX_BYTES),
        validator=build_validator(settings.TELEMETRY_SERVICES[service]),
        batch_size=8,
        batch_wait=0.0,
        idle_timeout=0.0,
        backoff=0.001,
        backoff_max=0.001,
        name=service,
    )
    return loop.run(), consumer, producer, database


def acceptable(service: str, value: bytes | None, codec: Any = None) -> bool:
    """Whether ``value`` decodes and validates: a hostile draw can be a valid record after all."""
    try:
        record = (codec or JsonCodec(SCHEMAS[service])).decode(value)
    except Exception:
        return False
    return not build_validator(settings.TELEMETRY_SERVICES[service])(record)


FUZZ = property_settings(
    EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.mark.parametrize("service", SERVICES)
def test_no_message_crashes_or_wedges_the_loop_of_any_service(service):
    @FUZZ
    @given(streams(service))
    @example(known_stream(service))
    def fuzz(stream: tuple[list[bytes | None], set[int], list[int]]) -> None:
        messages, valid_at, sizes = stream
        check_run(service, messages, valid_at, run_stream(service, messages, sizes))  # nothing raises

    FIGURES.clear()
    fuzz()
    report(f"json service={service}")


def check_run(service: str, messages: list, valid_at: set[int], run: tuple, codec: Any = None) -> None:
    stats, _consumer, producer, database = run
    assert stats.messages == len(messages)
    assert stats.committed == {("telemetry", 0): len(messages)}
    letters: dict[int, list[str]] = {}
    for letter in producer.produced:
        letters.setdefault(int(letter["headers"]["dlq.origin.offset"]), []).append(
            letter["headers"]["dlq.error"].decode("utf-8", "replace")
        )
    assert all(len(reasons) == 1 for reasons in letters.values()), letters  # exactly once
    handler_refusals = {o: r for o, rs in letters.items() for r in rs if r.startswith("handler: ")}
    assert not handler_refusals, f"validation let through what a repository refused: {handler_refusals}"
    for offset, value in enumerate(messages):
        if offset in valid_at:
            assert offset not in letters, letters[offset]
            assert persisted(service, database, offset, codec.decode(value) if codec else json.loads(value)), offset
        elif offset in letters:
            assert letters[offset][0].split(": ", 1)[0] in ("decode", "validation") and len(letters[offset][0]) > 12
        else:
            assert acceptable(service, value, codec), f"neither dead-lettered nor acceptable: {value[:200]!r}"
    assert stats.dead_lettered == len(letters) and stats.processed == len(messages) - len(letters)
    for letter in producer.produced:
        assert len(letter["value"] or b"") + len(letter["key"] or b"") <= DEAD_LETTER_MAX_BYTES
    FIGURES.update(
        examples=1,
        messages=len(messages),
        valid=len(valid_at),
        dead_lettered=len(letters),
        hostile_accepted=stats.processed - len(valid_at),
        cut=sum("dlq.value.cut" in letter["headers"] for letter in producer.produced),
    )


def report(name: str) -> None:
    print(f"\nFUZZ {name} " + " ".join(f"{key}={value}" for key, value in sorted(FIGURES.items())) + " failures=0")
    FIGURES.clear()


@st.composite
def avro_streams(draw: Any, encode: Any) -> tuple[list[bytes | None], set[int], list[int]]:
    """Valid Avro records mixed with corrupt ones: random bodies behind the real header, valid
    bodies with bytes flipped, cut or extended, and records whose strings and doubles are hostile
    values Avro can carry (controls, non-characters, NaN, 1e308)."""
    count = draw(st.integers(1, 12))
    messages: list[bytes | None] = []
    valid_at: set[int] = set()
    for index in range(count):
        body = encode(valid_telemetry(index, index * 60_000))
        kind = draw(st.sampled_from(["valid", "valid", "random-body", "flipped", "cut", "extended", "values"]))
        if kind == "valid":
            valid_at.add(index)
            messages.append(body)
        elif kind == "random-body":
            messages.append(body[:5] + draw(st.binary(max_size=80)))
        elif kind == "flipped":
            at = draw(st.integers(0, len(body) - 1))
            messages.append(body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :])
        elif kind == "cut":
            messages.append(body[: draw(st.integers(0, len(body) - 1))])
        elif kind == "extended":
            messages.append(body + draw(st.binary(min_size=1, max_size=8)))
        else:
            record = valid_telemetry(1000 + index, index * 60_000)
            path = draw(st.sampled_from([p for p in TELEMETRY_PATHS if p[-1] in STRING_FIELDS | NUMBER_FIELDS]))
            if path[-1] in STRING_FIELDS:
                value: Any = draw(
                    st.text(st.characters(codec="utf-8"), max_size=20)
                    | hostile_strings.filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text))
                )
            elif path[-1] == "timestamp":
                value = draw(st.integers(-(2**63), 2**63 - 1))
            else:
                value = draw(st.floats())
            messages.append(encode(replaced(record, path, value)))
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=count))
    return messages, valid_at, sizes


@pytest.mark.parametrize("service", ("current", "usage"))
def test_no_avro_message_crashes_or_wedges_the_loop(service, avro):
    codec = avro["telemetry"]

    @FUZZ
    @given(avro_streams(codec.encode))
    def fuzz(stream: tuple[list[bytes | None], set[int], list[int]]) -> None:
        messages, valid_at, sizes = stream
        check_run(service, messages, valid_at, run_stream(service, messages, sizes, codec), codec)

    FIGURES.clear()
    fuzz()
    report(f"avro service={service}")
