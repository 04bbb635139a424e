"""Benchmark 1: decoding Avro telemetry in the Confluent wire format.

The project's ``ConfluentAvroCodec.decode`` against confluent-kafka's ``AvroDeserializer`` and
against raw ``fastavro.schemaless_reader`` with a cached parsed schema, on the same payloads (a
simulated fleet). The three run interleaved, best of ``--repeats``. Targets: at least 3x the
``AvroDeserializer``, at least 0.8x raw fastavro. Needs neither Django nor a broker.

    python -m benchmarks.decoding [--messages 20000] [--repeats 5]
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable

from benchmarks.common import Result, command_line, emit, fleet_records

NAME = "decoding"
TOPIC = "data.c40.equipment.enriched"


def encode_payloads(messages: int, machines: int = 200) -> tuple[list[bytes], object, object]:
    """Wire-format payloads of ``messages`` simulated records, the project codec and the registry."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from stream.codecs import ConfluentAvroCodec

    registry = SchemaRegistryClient.new_client({"url": f"mock://bench-{uuid.uuid4().hex}"})
    encoder = ConfluentAvroCodec("c40_enriched.avsc", f"{TOPIC}-value", registry)
    payloads = [encoder.encode(record) for record in fleet_records(messages, machines=machines)]
    # A fresh codec, as a consumer process has: it fetches the writer schema once, by id.
    decoder = ConfluentAvroCodec("c40_enriched.avsc", f"{TOPIC}-value", registry, auto_register=False)
    return payloads, decoder, registry


def decoders(decoder: object, registry: object) -> dict[str, Callable[[bytes], object]]:
    import fastavro
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from stream.codecs import load_schema, strip_logical_types

    deserializer = AvroDeserializer(registry)
    context = SerializationContext(TOPIC, MessageField.VALUE)
    # The reference reads with the same schema the project decodes with (timestamps stay ints).
    parsed = fastavro.parse_schema(strip_logical_types(load_schema("c40_enriched.avsc")))
    schemaless_reader = fastavro.schemaless_reader

    def raw(data: bytes) -> object:
        payload = io.BytesIO(data)
        payload.seek(5)
        return schemaless_reader(payload, parsed, None)

    return {
        "project": decoder.decode,  # type: ignore[attr-defined]
        "AvroDeserializer": lambda data: deserializer(data, context),
        "fastavro": raw,
    }


def run(messages: int = 20_000, repeats: int = 5) -> list[Result]:
    payloads, decoder, registry = encode_payloads(messages)
    candidates = decoders(decoder, registry)
    # Same answers first: a benchmark of decoders that disagree would measure nothing.
    sample = payloads[0]
    project_value = candidates["project"](sample)
    if project_value != candidates["fastavro"](sample):
        raise AssertionError("the project decoder and raw fastavro disagree on the same payload")
    if (
        json.loads(json.dumps(candidates["AvroDeserializer"](sample), default=str))["identifier"]
        != project_value["identifier"]
    ):
        raise AssertionError("AvroDeserializer decodes another record")
    best = dict.fromkeys(candidates, 0.0)
    for _ in range(max(1, repeats)):  # interleaved, so that a noisy moment hits all three alike
        for name, decode in candidates.items():
            started = time.perf_counter()
            for data in payloads:
                decode(data)
            best[name] = max(best[name], len(payloads) / (time.perf_counter() - started))
    note = f"{len(payloads):,} msgs, best of {repeats}"
    vs_deserializer = best["project"] / best["AvroDeserializer"]
    vs_raw = best["project"] / best["fastavro"]
    return [
        Result(
            NAME,
            "project ConfluentAvroCodec.decode",
            best["project"],
            "msg/s",
            "confluent AvroDeserializer",
            best["AvroDeserializer"],
            ">= 3.0x",
            vs_deserializer >= 3.0,
            note=note,
        ),
        Result(
            NAME,
            "project ConfluentAvroCodec.decode",
            best["project"],
            "msg/s",
            "raw fastavro.schemaless_reader",
            best["fastavro"],
            ">= 0.8x",
            vs_raw >= 0.8,
            note=note,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    emit(run(args.messages, args.repeats), args.json)


if __name__ == "__main__":
    main()
