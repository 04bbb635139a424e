"""Schema evolution: producers on an older version (fewer optional fields) and on a newer one
(extra optional fields with defaults) write to the same topic; one consumer reads both with its
reader schema, the way the registry's BACKWARD/FORWARD compatibility intends."""

from __future__ import annotations

import copy
import io
import json
import time

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema

from stream.codecs import load_schema, strip_logical_types
from telemetry_site import backends
from telemetry_site.services import build_consumer_loop
from tests.reliability.support import (
    ci_size,
    fleet_stream,
    produce_tracked,
    reference_snapshot,
    snapshot,
    telemetry_services,
    use_fresh_database,
)

pytestmark = [pytest.mark.reliability, pytest.mark.broker]


def older_schema() -> dict:
    """Version 0: no ``base``, and ``c40`` without ``fuel``."""
    schema = load_schema("c40_enriched.avsc")
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "base"]
    c40 = next(f for f in schema["fields"] if f["name"] == "c40")["type"][1]
    c40["fields"] = [f for f in c40["fields"] if f["name"] != "fuel"]
    return schema


def newer_schema() -> dict:
    """Version 2: a top-level ``firmware`` and an engine ``rpm``, both optional with defaults."""
    schema = load_schema("c40_enriched.avsc")
    schema["fields"].append({"name": "firmware", "type": ["null", "string"], "default": None})
    c40 = next(f for f in schema["fields"] if f["name"] == "c40")["type"][1]
    engine = next(f for f in c40["fields"] if f["name"] == "engine")["type"][1]
    engine["fields"].append({"name": "rpm", "type": ["null", "double"], "default": None})
    return schema


def writer(registry, subject: str, schema: dict):
    schema_id = registry.register_schema(subject, Schema(json.dumps(schema), "AVRO"))
    parsed = fastavro.parse_schema(strip_logical_types(schema))

    def encode(record: dict) -> bytes:
        out = io.BytesIO()
        out.write(b"\x00" + schema_id.to_bytes(4, "big"))
        fastavro.schemaless_writer(out, parsed, record)
        return out.getvalue()

    return schema_id, encode


def as_read_from_older(record: dict) -> dict:
    """What the reader schema makes of a record written with the older version: defaults (null)."""
    read = copy.deepcopy(record)
    read["base"] = None
    read["c40"]["fuel"] = None
    return read


@pytest.mark.parametrize("service", telemetry_services())
def test_older_and_newer_producers_are_both_consumed_with_the_reader_schema(service, kafka, avro, settings):
    codec = avro["telemetry"]
    registry = backends.schema_registries["default"]
    subject = codec.subject
    old_id, encode_old = writer(registry, subject, older_schema())
    current_id = codec.schema_id()
    new_id, encode_new = writer(registry, subject, newer_schema())
    assert len({old_id, current_id, new_id}) == 3

    stream = fleet_stream(ci_size(service, 1500), seed=8, now_ms=int(time.time() * 1000))
    payloads, as_read = [], []
    for i, record in enumerate(stream):
        version = i % 3
        if version == 0:
            payloads.append(encode_old(record))
            as_read.append(as_read_from_older(record))
        elif version == 1:
            payloads.append(codec.encode(record))
            as_read.append(record)
        else:
            newer = copy.deepcopy(record)
            newer["firmware"] = "c40-fw-2.1"
            newer["c40"]["engine"]["rpm"] = 1450.0
            payloads.append(encode_new(newer))
            as_read.append(record)  # the reader ignores the fields it does not know
    expected = reference_snapshot(settings, service, as_read)
    keyed = [(record["identifier"].encode(), payload) for record, payload in zip(stream, payloads, strict=True)]
    ends = produce_tracked(kafka.producer(), settings.TELEMETRY_TOPIC, keyed)
    use_fresh_database(settings)
    settings.CONSUMER_BATCH_SIZE = 250
    stats = build_consumer_loop(service, idle_timeout=3).run()
    assert (stats.processed, stats.dead_lettered) == (len(stream), 0)
    assert sum(ends.values()) == len(stream)
    assert snapshot(service, backends.databases["default"]) == expected
    print(f"\nRELIABILITY schema service={service} messages={len(stream)} writer_versions=3 dead_lettered=0")
