"""Codecs on real Avro bytes and JSON; the registry is confluent-kafka's in-process mock://."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stream.codecs import (
    ConfluentAvroCodec,
    DecodeError,
    JsonCodec,
    TransientError,
    load_schema,
    parse_schema_text,
    schema_registry_client,
    strip_logical_types,
)
from tests.factories import T0, telemetry


@pytest.fixture
def registry():
    return schema_registry_client("mock://codec-tests")


@pytest.fixture
def codec(registry):
    return ConfluentAvroCodec("c40_enriched.avsc", subject="telemetry-value", registry=registry)


def test_round_trip_keeps_timestamps_as_epoch_millis(codec):
    record = telemetry("EX001", T0, pois=["Site A"])
    data = codec.encode(record)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.schema_id()
    decoded = codec.decode(data)
    assert decoded["timestamp"] == T0
    assert decoded["location"]["pointsOfInterest"] == [{"name": "Site A"}]
    assert decoded["c40"]["odometry"] == {"hours_tot": 100.0, "km_tot": 5000.0}


def test_reads_what_confluents_serializer_writes(registry, codec):
    """Interoperability with the reference implementation of the wire format."""
    schema_text = json.dumps(load_schema("c40_enriched.avsc"))
    serializer = AvroSerializer(registry, schema_text)
    context = SerializationContext("t", MessageField.VALUE)
    record = telemetry("EX002", T0)
    record["timestamp"] = T0  # confluent converts datetime or int for timestamp-millis
    data = serializer(record, context)
    assert codec.decode(data)["identifier"] == "EX002"
    deserialized = AvroDeserializer(registry)(codec.encode(record), context)
    assert deserialized["identifier"] == "EX002"


def test_decodes_an_older_writer_schema_with_defaults(registry, codec):
    """Schema evolution: a producer on a version without ``base`` and ``c40`` is still read."""
    old = load_schema("c40_enriched.avsc")
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("base", "c40")]
    schema_id = registry.register_schema("telemetry-value", Schema(json.dumps(old), "AVRO"))
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, fastavro.parse_schema(strip_logical_types(old)), {"identifier": "OLD1", "timestamp": T0}
    )
    data = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    decoded = codec.decode(data)
    assert decoded["identifier"] == "OLD1" and decoded["c40"] is None and decoded["base"] is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "message of 0 bytes is shorter than the wire-format header"),
        (b"\x00\x00", "message of 2 bytes is shorter than the wire-format header"),
        (b"\x01\x00\x00\x00\x01abc", "unknown magic byte 1"),
        (b"\x00\x00\x00\x30\x39abc", "unknown schema id 12345"),
    ],
)
def test_bad_bytes_are_decode_errors(codec, data, reason):
    codec.schema_id()
    with pytest.raises(DecodeError, match=reason):
        codec.decode(data)


def test_truncated_and_padded_bodies_are_decode_errors(codec):
    data = codec.encode(telemetry())
    with pytest.raises(DecodeError, match="does not decode"):
        codec.decode(data[:-7])
    with pytest.raises(DecodeError, match=r"^2 trailing bytes after the Avro body$"):
        codec.decode(data + b"\x00\x00")
    with pytest.raises(DecodeError, match=r"^Avro body does not decode with schema id"):
        codec.decode(data[:5])  # a header and nothing else


def test_unreachable_registry_is_transient():
    codec = ConfluentAvroCodec(
        "c40_enriched.avsc",
        subject="s",
        registry=schema_registry_client("http://127.0.0.1:9", **{"timeout": 1, "max.retries": 0}),
    )
    with pytest.raises(TransientError):
        codec.decode(b"\x00\x00\x00\x00\x07abc")


def test_avro_without_registry_url_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as raised:
        schema_registry_client("")
    assert str(raised.value) == (  # what an operator reads when the consumer does not start
        "The avro codec needs SCHEMA_REGISTRY_URL (Confluent, or Apicurio's /apis/ccompat/v7); "
        "set it, or set TELEMETRY_CODEC=json."
    )


def test_json_round_trip_and_schema_violations():
    codec = JsonCodec("c40_enriched.avsc")
    record = telemetry()
    assert codec.decode(codec.encode(record)) == record
    minimal = {"identifier": "EX1", "timestamp": T0}
    assert codec.decode(json.dumps(minimal).encode()) == minimal
    with pytest.raises(DecodeError, match="not JSON"):
        codec.decode(b"\xff{")
    with pytest.raises(DecodeError, match=r"^expected a JSON object, got list$"):
        codec.decode(b"[1, 2]")
    # The reason (the dead letter's dlq.error) names the field, not a dump of the whole schema.
    with pytest.raises(
        DecodeError, match=r"(?s)^violates schema c40\.telemetry\.C40Enriched: .*C40Enriched\.timestamp\) is None"
    ):
        codec.decode(json.dumps({"identifier": "EX1"}).encode())
    with pytest.raises(DecodeError, match="violates schema"):
        codec.decode(json.dumps({"identifier": "EX1", "timestamp": "yesterday"}).encode())
    with pytest.raises(ValueError):
        codec.encode({"identifier": "EX1", "timestamp": T0, "x": float("nan")})
    assert codec.encode(minimal) == b'{"identifier":"EX1","timestamp":%d}' % T0  # compact on the wire


def test_json_nested_thousands_deep_is_a_decode_error_not_a_recursion_error():
    codec = JsonCodec("c40_enriched.avsc")
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"identifier": "EX1", "timestamp": 1, "x": ' + b"[" * 100_000):
        with pytest.raises(DecodeError, match=r"^not JSON: RecursionError: "):
            codec.decode(deep)


def test_json_fields_the_schema_does_not_name_are_dropped_at_every_level_as_avro_drops_them():
    codec = JsonCodec("c40_enriched.avsc")
    record = telemetry(pois=["A"])
    hostile = {
        **record,
        "_id": {"$set": 1},
        "bad\x00key": [[[]]],
        "location": {
            **record["location"],
            "extra": 1,
            "GPS": {**record["location"]["GPS"], "altitude": 3},
            "pointsOfInterest": [{"name": "A", "id": 7}],
        },
    }
    assert codec.decode(json.dumps(hostile).encode()) == record
    # A union branch that is null, an absent optional section, and arrays are kept as they are.
    minimal = {"identifier": "EX1", "timestamp": T0, "base": None, "location": {"pointsOfInterest": None}}
    assert codec.decode(json.dumps(minimal).encode()) == minimal
    registry = JsonCodec("equipment_registry.avsc")
    entry = {"identifier": "EX1", "last_update": T0, "brand": "B", "hourly_rate": 1.5}
    assert registry.decode(json.dumps({**entry, "_id": "EX2|0", "owner": "x"}).encode()) == entry


def test_json_numbers_the_database_cannot_hold_pass_the_codec_and_are_left_to_validation():
    # fastavro checks a long's 64-bit range but takes any int for a double: validation refuses it.
    codec = JsonCodec("c40_enriched.avsc")
    huge = {"identifier": "EX1", "timestamp": T0, "c40": {"odometry": {"km_tot": 10**300}}}
    assert codec.decode(json.dumps(huge).encode()) == huge
    with pytest.raises(DecodeError, match="violates schema"):
        codec.decode(json.dumps({"identifier": "EX1", "timestamp": 2**63}).encode())


def test_schemas_are_read_by_name_or_absolute_path(tmp_path):
    schema = {"type": "record", "name": "T", "fields": [{"name": "x", "type": "long"}]}
    (tmp_path / "t.avsc").write_text(json.dumps(schema))
    assert load_schema(str(tmp_path / "t.avsc")) == schema
    assert load_schema("usage.avsc")["type"] == "record"


def test_parsed_schemas_are_not_parsed_again_per_message(codec):
    # fastavro re-parses, on every schemaless_reader call, a schema that lacks its "parsed" hint;
    # that cost 4-5x the decoding time (docs/PERFORMANCE.md). The cached schemas keep the hint.
    assert codec.reader_schema.get("__fastavro_parsed") is True
    assert parse_schema_text(codec.schema_text) is codec.reader_schema


def test_without_auto_registration_the_codec_looks_up_the_registered_schema(registry, codec):
    registered = codec.schema_id()
    lookup = ConfluentAvroCodec("c40_enriched.avsc", subject="telemetry-value", registry=registry, auto_register=False)
    assert lookup.schema_id() == registered
    data = lookup.encode(telemetry("EX001", T0))
    assert int.from_bytes(data[1:5], "big") == registered
    assert registry.get_schema(registered).schema_type == "AVRO"
    assert lookup.decode(data)["timestamp"] == T0


class CountingRegistry:
    """The in-process registry, counting the schema fetches the codec makes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.fetches: list[int] = []

    def register_schema(self, subject, schema):
        return self.inner.register_schema(subject, schema)

    def lookup_schema(self, subject, schema):
        return self.inner.lookup_schema(subject, schema)

    def get_schema(self, schema_id):
        self.fetches.append(schema_id)
        return self.inner.get_schema(schema_id)


def test_writer_schemas_are_fetched_once_and_the_own_schema_never(registry):
    counting = CountingRegistry(registry)
    codec = ConfluentAvroCodec("c40_enriched.avsc", subject="telemetry-value", registry=counting)
    codec.decode(codec.encode(telemetry()))
    assert counting.fetches == []  # what it registered itself it already knows
    old = ConfluentAvroCodec("c40_enriched.avsc", subject="telemetry-value", registry=registry)
    other = ConfluentAvroCodec("c40_enriched.avsc", subject="telemetry-value", registry=counting)
    data = old.encode(telemetry())
    assert other.decode(data) == other.decode(data)
    assert counting.fetches == [old.schema_id()]
    assert "telemetry-value" in registry.get_subjects()


class FailingRegistry:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_schema(self, schema_id):
        raise self.exc


def test_registry_faults_are_transient_and_name_the_schema_id():
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    server_error = FailingRegistry(SchemaRegistryError(500, 50001, "store down"))
    codec = ConfluentAvroCodec("c40_enriched.avsc", subject="s", registry=server_error)
    with pytest.raises(TransientError, match=r"^schema registry error for id 7: "):
        codec.decode(b"\x00\x00\x00\x00\x07abc")
    codec.registry = FailingRegistry(ConnectionError("refused"))
    with pytest.raises(TransientError, match=r"^schema registry unreachable for id 7: ConnectionError"):
        codec.decode(b"\x00\x00\x00\x00\x07abc")


def test_a_registered_schema_that_is_not_avro_is_a_decode_error(registry):
    schema_id = registry.register_schema("junk-value", Schema('{"type": "nonsense"}', "JSON"))
    codec = ConfluentAvroCodec("c40_enriched.avsc", subject="s", registry=registry)
    with pytest.raises(DecodeError, match=f"^schema id {schema_id} is not a usable Avro schema"):
        codec.decode(b"\x00" + schema_id.to_bytes(4, "big") + b"abc")


RATE = {"type": "record", "name": "Rate", "fields": [{"name": "a", "type": "int"}]}


def test_record_shape_keeps_maps_and_arrays_of_records_and_nothing_for_those_of_primitives():
    from stream.codecs import record_shape

    assert record_shape({"type": "map", "values": RATE}) == ("map", ("record", {"a": None}))
    assert record_shape({"type": "array", "items": RATE}) == ("array", ("record", {"a": None}))
    assert record_shape({"type": "map", "values": "int"}) is None
    assert record_shape({"type": "array", "items": "int"}) is None


def test_project_drops_unnamed_fields_inside_the_values_of_a_map_of_records():
    from stream.codecs import project, record_shape

    shape = record_shape({"type": "map", "values": RATE})
    assert project({"k": {"a": 1, "_id": 2}, "j": {"a": 3}}, shape) == {"k": {"a": 1}, "j": {"a": 3}}


def test_project_keeps_a_union_s_primitive_array_branch_whole():
    from stream.codecs import project, record_shape

    shape = record_shape(["null", {"type": "array", "items": "int"}, RATE])
    assert shape == ("record", {"a": None})
    assert project([1, 2], shape) == [1, 2]


def test_a_schema_violation_names_the_schema_and_the_validator_s_error():
    with pytest.raises(DecodeError, match=r"^violates schema \S+: ValidationError: "):
        JsonCodec("c40_enriched.avsc").decode(b'{"identifier": 5}')
