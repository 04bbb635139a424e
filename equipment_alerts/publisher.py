"""Publishes alert events to ``ALERTS_TOPIC`` (key: machine) and report announcements to
``ALERT_REPORTS_TOPIC`` (key: schedule id), Avro with a registry or JSON (the codec registry).

``publish`` waits for delivery and raises ``TransientError`` when anything was not delivered: the
consumer then neither stores the batch's alerts nor commits, and the retry publishes the same
events (same event ids) again: at least once, duplicates recognisable by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.codecs import TransientError
from telemetry_site.publishing import KafkaPublisher


class _DeliveredPublisher(KafkaPublisher):
    KEY_FIELD = ""

    def publish(self, messages: Sequence[dict]) -> int:
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for message in messages:
            key = str(message[self.KEY_FIELD]).encode()
            self.producer.produce(self.topic, key=key, value=self.codec.encode(message), on_delivery=on_delivery)
        remaining = self.producer.flush(self.timeout) if messages else 0
        if remaining or errors:
            raise TransientError(f"topic {self.topic!r}: {remaining} undelivered, errors {errors[:3]}")
        return len(messages)


class AlertPublisher(_DeliveredPublisher):
    CLIENT_ID = "c40-alerts-publisher"
    CODEC = "alerts"
    TOPIC_SETTING = "ALERTS_TOPIC"
    KEY_FIELD = "machine"


class ReportPublisher(_DeliveredPublisher):
    CLIENT_ID = "c40-alert-reports-publisher"
    CODEC = "alert_reports"
    TOPIC_SETTING = "ALERT_REPORTS_TOPIC"
    KEY_FIELD = "schedule_id"
