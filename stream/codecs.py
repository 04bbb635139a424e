"""Message codecs: Avro in the Confluent wire format, and JSON.

The Confluent wire format is a magic byte (0), a big-endian 4-byte schema id, then the Avro body.
Decoding looks the writer schema up by id once, parses it once, and from then on costs one
``fastavro.schemaless_reader`` call: confluent-kafka's ``AvroDeserializer`` does several times more
work per message. ``timestamp-millis`` fields stay epoch milliseconds (ints): the business rules
compute with them, and building ``datetime`` objects per message would be wasted work.
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import validate as fastavro_validate

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class DecodeError(Exception):
    """The message itself is bad (garbage, unknown schema, schema violation): dead-letter it."""


class TransientError(Exception):
    """A dependency is unreachable; the same message may decode later: retry, do not dead-letter."""


def load_schema(name: str) -> dict:
    """The JSON of a schema file in ``stream/schemas`` (or an absolute path)."""
    return json.loads((SCHEMA_DIR / name).read_text())  # joining an absolute path gives that path


def strip_logical_types(schema: Any) -> Any:
    """A copy of ``schema`` without logicalType annotations, so timestamps decode as ints."""
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    return schema


@cache
def parse_schema_text(schema_text: str) -> dict:
    """Parse (once per distinct text) a schema with its logical types stripped.

    The parsed schema keeps fastavro's "already parsed" hint: without it, every
    ``schemaless_reader`` call parses the schema again, which made decoding 4-5x slower.
    """
    return fastavro.parse_schema(strip_logical_types(json.loads(schema_text)))


def schema_registry_client(url: str, **conf: Any) -> Any:
    """Build a confluent-kafka schema-registry client; ``mock://`` gives its in-process stand-in."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    if not url:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "The avro codec needs SCHEMA_REGISTRY_URL (Confluent, or Apicurio's /apis/ccompat/v7); "
            "set it, or set TELEMETRY_CODEC=json."
        )
    return SchemaRegistryClient.new_client({"url": url, **conf})


class ConfluentAvroCodec:
    """Avro bodies behind the Confluent wire-format header, schemas from a schema registry."""

    content_type = "avro"

    def __init__(self, schema: str, subject: str, registry: Any, auto_register: bool = True) -> None:
        self.schema_text = json.dumps(load_schema(schema), sort_keys=True)
        self.reader_schema = parse_schema_text(self.schema_text)
        self.subject = subject
        self.registry = registry
        self.auto_register = auto_register
        self._writer_schemas: dict[int, dict] = {}
        self._schema_id: int | None = None

    # -- decoding ------------------------------------------------------------------------------

    def decode(self, data: bytes | None) -> dict:
        if not data or len(data) < _HEADER.size:
            raise DecodeError(f"message of {len(data or b'')} bytes is shorter than the wire-format header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise DecodeError(f"unknown magic byte {magic}; expected {MAGIC_BYTE} (Confluent wire format)")
        writer = self._writer_schemas.get(schema_id)
        if writer is None:
            writer = self._fetch_writer_schema(schema_id)
        payload = io.BytesIO(data)
        payload.seek(_HEADER.size)
        try:
            if writer is self.reader_schema:
                record = fastavro.schemaless_reader(payload, writer, None)
            else:
                record = fastavro.schemaless_reader(payload, writer, self.reader_schema)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise DecodeError(f"Avro body does not decode with schema id {schema_id}: {exc!r}") from exc
        if payload.tell() != len(data):
            raise DecodeError(f"{len(data) - payload.tell()} trailing bytes after the Avro body")
        if not isinstance(record, dict):
            raise DecodeError("Avro body is not a record")
        return record

    def _fetch_writer_schema(self, schema_id: int) -> dict:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema = self.registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError(f"unknown schema id {schema_id}: {exc}") from exc
            raise TransientError(f"schema registry error for id {schema_id}: {exc}") from exc
        except Exception as exc:  # connection refused, timeouts: the registry may come back
            raise TransientError(f"schema registry unreachable for id {schema_id}: {exc!r}") from exc
        text = json.dumps(json.loads(schema.schema_str), sort_keys=True)
        try:
            parsed = self.reader_schema if text == self.schema_text else parse_schema_text(text)
        except Exception as exc:
            raise DecodeError(f"schema id {schema_id} is not a usable Avro schema: {exc!r}") from exc
        self._writer_schemas[schema_id] = parsed
        return parsed

    # -- encoding ------------------------------------------------------------------------------

    def schema_id(self) -> int:
        if self._schema_id is None:
            from confluent_kafka.schema_registry import Schema

            schema = Schema(self.schema_text, "AVRO")
            if self.auto_register:
                self._schema_id = self.registry.register_schema(self.subject, schema)
            else:
                self._schema_id = self.registry.lookup_schema(self.subject, schema).schema_id
            self._writer_schemas[self._schema_id] = self.reader_schema
        return self._schema_id

    def encode(self, record: dict) -> bytes:
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC_BYTE, self.schema_id()))
        fastavro.schemaless_writer(out, self.reader_schema, record)
        return out.getvalue()


def record_shape(schema: Any) -> Any:
    """What of a parsed schema ``project`` keeps: a record's field names (each with the shape of its
    value), an array's item shape, or None where a value is kept whole (primitives, and unions with
    more than one complex branch, which our schemas do not have)."""
    if isinstance(schema, list):
        shapes = [shape for branch in schema if (shape := record_shape(branch)) is not None]
        return shapes[0] if len(shapes) == 1 else None
    if isinstance(schema, dict):
        if schema.get("type") == "record":
            return ("record", {f["name"]: record_shape(f["type"]) for f in schema["fields"]})
        if schema.get("type") == "array":
            items = record_shape(schema["items"])
            return None if items is None else ("array", items)
        if schema.get("type") == "map":
            values = record_shape(schema["values"])
            return None if values is None else ("map", values)
    return None


def project(value: Any, shape: Any) -> Any:
    """``value`` (already valid for the schema) without the fields its schema does not name.

    Avro's reader schema drops a newer writer's extra fields; this gives JSON the same rule, so a
    field no schema names (``_id``, a key with a NUL, a structure nested thousands deep) never
    reaches a handler, a repository or a stored document.
    """
    if shape is None or value is None:
        return value
    kind, inner = shape
    if kind == "record" and type(value) is dict:
        return {key: project(item, inner[key]) for key, item in value.items() if key in inner}
    if kind == "array" and type(value) is list:
        return [project(item, inner) for item in value]
    if kind == "map" and type(value) is dict:
        return {key: project(item, inner) for key, item in value.items()}
    return value


class JsonCodec:
    """UTF-8 JSON objects, checked against the same Avro schema as the avro codec.

    For development and for producers without a registry. Timestamps are epoch milliseconds.
    Fields the schema does not name are dropped, as Avro's schema resolution drops them.
    """

    content_type = "json"

    def __init__(self, schema: str) -> None:
        self.schema = parse_schema_text(json.dumps(load_schema(schema), sort_keys=True))
        self.shape = record_shape(self.schema)

    def decode(self, data: bytes | None) -> dict:
        try:
            record = json.loads(data or b"")
        except Exception as exc:  # ValueError, UnicodeDecodeError, and RecursionError on deep nesting
            raise DecodeError(f"not JSON: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"expected a JSON object, got {type(record).__name__}")
        try:
            fastavro_validate(record, self.schema, raise_errors=True, strict=False)
        except Exception as exc:
            raise DecodeError(f"violates schema {self.schema['name']}: {type(exc).__name__}: {exc}") from exc
        return project(record, self.shape)

    def encode(self, record: dict) -> bytes:
        return json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
