"""Publishes usage records to ``data.c40.usage``: key = identifier, value = the usage codec's bytes.

The producer comes from the Kafka registry, so it has the project's idempotent defaults
(``enable.idempotence``, ``acks=all``). ``publish`` waits for delivery and raises if any record
was not delivered, so the consumer loop leaves the batch uncommitted and replays it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from equipment_usage.metrics import usage_published
from stream.codecs import TransientError
from telemetry_site.publishing import KafkaPublisher


class UsagePublisher(KafkaPublisher):
    """Built lazily: nothing connects until ``open`` or the first ``publish``."""

    CLIENT_ID = "c40-usage-publisher"
    CODEC = "usage"
    TOPIC_SETTING = "USAGE_TOPIC"

    def open(self) -> None:
        """Create the producer now. librdkafka then connects and obtains its idempotent producer id
        in the background; created at the first ``publish``, that took about half a second of the
        first batch (docs/PERFORMANCE.md)."""
        self.producer  # noqa: B018 - the property creates it

    def publish(self, records: Sequence[dict]) -> int:
        """Produce ``records`` and wait until every one is acknowledged."""
        if not records:
            return 0
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        # Looked up once per batch, not per record (a few hundred records per batch).
        encode, producer, topic = self.codec.encode, self.producer, self.topic
        for record in records:
            value = encode(record)
            while True:
                try:
                    producer.produce(topic, key=record["identifier"].encode(), value=value, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    producer.poll(0.5)
            producer.poll(0)
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            raise TransientError(f"usage topic {self.topic!r}: {remaining} undelivered, errors {errors[:3]}")
        usage_published(records)
        return len(records)
