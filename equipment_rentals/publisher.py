"""Publishes statement versions to ``RENTALS_TOPIC``: key = contract id, value = the ``rentals``
codec's bytes (schema ``stream/schemas/rental_statement.avsc``; Avro with a registry, or JSON).

Like usage's publisher (equipment_usage/publisher.py): the producer from the Kafka registry
(idempotent, acks=all) and the codec, built on first use; ``publish`` waits for delivery and raises
``TransientError`` if any event was not delivered, so the version is not stored and the next run
publishes it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.codecs import TransientError


class RentalsPublisher:
    def __init__(
        self, producer: Any = None, codec: Any = None, topic: str | None = None, timeout: float = 30.0
    ) -> None:
        self._producer = producer
        self._codec = codec
        self._topic = topic
        self.timeout = timeout

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from telemetry_site.backends import codecs

            self._codec = codecs["rentals"]
        return self._codec

    @property
    def producer(self) -> Any:
        if self._producer is None:
            from telemetry_site.backends import kafka

            self._producer = kafka["default"].producer(**{"client.id": "c40-rentals-publisher"})
        return self._producer

    @property
    def topic(self) -> str:
        if self._topic is None:
            from django.conf import settings

            self._topic = settings.RENTALS_TOPIC
        return self._topic

    def publish(self, events: Sequence[dict]) -> int:
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for event in events:
            value = self.codec.encode(event)
            self.producer.produce(
                self.topic, key=str(event["contract_id"]).encode(), value=value, on_delivery=on_delivery
            )
        remaining = self.producer.flush(self.timeout)
        if remaining or errors:
            raise TransientError(f"rentals topic {self.topic!r}: {remaining} undelivered, errors {errors[:3]}")
        return len(events)
