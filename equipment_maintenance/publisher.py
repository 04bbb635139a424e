"""Publishes maintenance events to ``MAINTENANCE_TOPIC``: key = machine, value = the ``maintenance``
codec's bytes (schema ``stream/schemas/maintenance_event.avsc``; Avro with a registry, or JSON).

Like rentals' publisher: the producer (idempotent, acks=all), codec and topic are built on first use;
``publish`` waits for delivery and raises ``TransientError`` if any event was not delivered, so the
emissions stay pending and are published again (docs/MAINTENANCE.md, "Emitted once").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.codecs import TransientError
from telemetry_site.publishing import KafkaPublisher


class MaintenancePublisher(KafkaPublisher):
    CLIENT_ID = "c40-maintenance-publisher"
    CODEC = "maintenance"
    TOPIC_SETTING = "MAINTENANCE_TOPIC"

    def publish(self, events: Sequence[dict]) -> int:
        if not events:
            return 0
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for event in events:
            value = self.codec.encode(event)
            self.producer.produce(self.topic, key=event["machine"].encode(), value=value, on_delivery=on_delivery)
            self.producer.poll(0)
        remaining = self.producer.flush(self.timeout)
        if remaining or errors:
            raise TransientError(f"maintenance topic {self.topic!r}: {remaining} undelivered, errors {errors[:3]}")
        return len(events)
