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


class UsagePublisher:
    """Built lazily: nothing connects until ``open`` or the first ``publish``."""

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

            self._producer = kafka["default"].producer(**{"client.id": "c40-usage-publisher"})
        return self._producer

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from telemetry_site.backends import codecs

            self._codec = codecs["usage"]
        return self._codec

    @property
    def topic(self) -> str:
        if self._topic is None:
            from django.conf import settings

            self._topic = settings.USAGE_TOPIC
        return self._topic

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
