"""Publishes daily utilisation rows to ``data.c40.utilisation``: key machine|site|date, value the
utilisation codec's bytes; a retracted key (the day's site changed) gets a tombstone first.

``publish`` waits for delivery and raises if anything was not delivered, so the consumer loop leaves
the batch uncommitted, stores none of the rows, and the replay publishes them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from equipment_utilisation.business_rows import kafka_key, topic_record
from stream.codecs import TransientError
from telemetry_site.publishing import KafkaPublisher


class UtilisationPublisher(KafkaPublisher):
    CLIENT_ID = "c40-utilisation-publisher"
    CODEC = "utilisation"
    TOPIC_SETTING = "UTILISATION_TOPIC"

    def open(self) -> None:
        self.producer  # noqa: B018 - the property creates it

    def publish(self, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        encode, producer, topic = self.codec.encode, self.producer, self.topic
        messages: list[tuple[str, bytes | None]] = []
        for row in rows:
            for site in row.get("retracted_sites", ()):
                messages.append((kafka_key({**row, "site": site}), None))
            messages.append((kafka_key(row), encode(topic_record(row))))
        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    producer.poll(0.5)
            producer.poll(0)
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            raise TransientError(f"utilisation topic {topic!r}: {remaining} undelivered, errors {errors[:3]}")
        return len(messages)
