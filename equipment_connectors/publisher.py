"""Publishes normalised C40 records on ``TELEMETRY_TOPIC``: key = identifier, value = the telemetry
codec's bytes (JSON or Avro, the codec registry's ``telemetry`` alias), header ``source`` naming the
connector. ``publish`` waits until every record is acknowledged and raises otherwise, so the runner
writes dedup keys only for acknowledged records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telemetry_site.publishing import KafkaPublisher


class PublishError(Exception):
    pass


class TelemetryPublisher(KafkaPublisher):
    CLIENT_ID = "c40-connectors"
    CODEC = "telemetry"
    TOPIC_SETTING = "TELEMETRY_TOPIC"

    def publish(self, records: Sequence[dict], source: str) -> int:
        if not records:
            return 0
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        headers = [("source", source.encode())]
        encode, producer, topic = self.codec.encode, self.producer, self.topic
        for record in records:
            value = encode(record)
            while True:
                try:
                    producer.produce(
                        topic, key=record["identifier"].encode(), value=value, headers=headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.5)
            producer.poll(0)
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            raise PublishError(f"topic {topic!r}: {remaining} undelivered, errors {errors[:3]}")
        return len(records)
