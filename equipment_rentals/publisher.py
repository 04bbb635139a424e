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
from telemetry_site.publishing import KafkaPublisher


class RentalsPublisher(KafkaPublisher):
    CLIENT_ID = "c40-rentals-publisher"
    CODEC = "rentals"
    TOPIC_SETTING = "RENTALS_TOPIC"

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
