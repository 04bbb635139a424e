"""Publishes normalised C40 records on ``TELEMETRY_TOPIC``: key = identifier, value = the telemetry
codec's bytes (JSON or Avro, the codec registry's ``telemetry`` alias), header ``source`` naming the
connector. ``publish`` waits until every record is acknowledged and raises otherwise, so the runner
writes dedup keys only for acknowledged records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PublishError(Exception):
    pass


class TelemetryPublisher:
    def __init__(
        self, producer: Any = None, codec: Any = None, topic: str | None = None, timeout: float = 30.0
    ) -> None:
        self._producer = producer
        self._codec = codec
        self._topic = topic
        self.timeout = timeout

    @property
    def producer(self) -> Any:
        if self._producer is None:
            from telemetry_site.backends import kafka

            self._producer = kafka["default"].producer(**{"client.id": "c40-connectors"})
        return self._producer

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from telemetry_site.backends import codecs

            self._codec = codecs["telemetry"]
        return self._codec

    @property
    def topic(self) -> str:
        if self._topic is None:
            from django.conf import settings

            self._topic = settings.TELEMETRY_TOPIC
        return self._topic

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
