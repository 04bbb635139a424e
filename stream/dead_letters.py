"""The dead-letter topic's producer: bad messages, untouched, with the error and their origin
(``DeadLetterSink``, used by ``stream.consumer.ConsumerLoop``; docs/CONSUMERS.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from stream.codecs import TransientError


def _origin(message: Any) -> tuple[str, int, int]:
    return (message.topic(), message.partition(), message.offset())


def _too_large(error: Any) -> bool:
    """Whether a produce or delivery error says the record is larger than the broker or the client takes."""
    from confluent_kafka import KafkaError

    code = getattr(error, "code", None)
    return callable(code) and code() in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)


class DeadLetterSink:
    """Produces bad messages, untouched, to the dead-letter topic with the error and their origin.

    Headers follow Kafka Connect's convention of carrying the context beside the original bytes.
    A dead letter larger than ``max_bytes`` — or one the broker refuses as too large — is cut: its
    value becomes the first ``VALUE_PREFIX_BYTES`` bytes, and headers give the whole value's size
    and SHA-256 (the key likewise, past ``KEY_PREFIX_BYTES``), so it always fits and never wedges
    the partition behind it.
    """

    VALUE_PREFIX_BYTES = 1024
    KEY_PREFIX_BYTES = 256
    ERROR_BYTES = 4096
    # What the headers but the error may take, beside it, in the size a letter is checked against.
    HEADER_ALLOWANCE = 512

    def __init__(
        self, producer: Any, topic: str, service: str, timeout: float = 10.0, max_bytes: int = 900_000
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service
        self.timeout = timeout
        self.max_bytes = max_bytes

    def send(self, failures: Sequence[tuple[Any, str]], delivered: set[tuple[str, int, int]] | None = None) -> None:
        """Produce a dead letter per failure and wait for every delivery; raise ``TransientError``
        if any is undelivered.

        ``delivered`` holds the origins (topic, partition, offset) an earlier try of the same batch
        already delivered: they are not produced again, and this try adds those it delivers. So a
        batch retried because one dead letter failed does not publish the others twice.
        """
        delivered = set() if delivered is None else delivered
        pending = [(message, reason) for message, reason in failures if _origin(message) not in delivered]
        if not pending:
            return
        outcomes: dict[tuple[str, int, int], Any] = {}  # origin -> delivery error, or None once delivered
        for message, reason in pending:
            self._produce(message, reason, outcomes, cut=self._size(message) > self.max_bytes)
        remaining = self.producer.flush(self.timeout)
        refused = [(message, reason) for message, reason in pending if _too_large(outcomes.get(_origin(message)))]
        if refused:  # the broker (or the client) takes less than max_bytes: cut these and send them again
            for message, reason in refused:
                self._produce(message, reason, outcomes, cut=True)
            remaining = self.producer.flush(self.timeout)
        errors = []
        for origin, error in outcomes.items():
            if error is None:
                delivered.add(origin)
            else:
                errors.append(error)
        if remaining or errors:
            raise TransientError(f"dead-letter topic {self.topic!r}: {remaining} undelivered, errors {errors[:3]}")

    def _size(self, message: Any) -> int:
        value, key = message.value(), message.key()
        return len(value or b"") + len(key or b"") + self.ERROR_BYTES + self.HEADER_ALLOWANCE

    def _produce(self, message: Any, reason: str, outcomes: dict, *, cut: bool) -> None:
        origin = _origin(message)
        value, key = message.value(), message.key()
        headers = [
            ("dlq.error", reason.encode("utf-8", "replace")[: self.ERROR_BYTES]),
            ("dlq.service", self.service.encode()),
            ("dlq.origin.topic", message.topic().encode()),
            ("dlq.origin.partition", str(message.partition()).encode()),
            ("dlq.origin.offset", str(message.offset()).encode()),
            ("dlq.failed_at", str(int(time.time() * 1000)).encode()),
        ]
        if cut:
            headers += [
                ("dlq.value.cut", b"true"),
                ("dlq.value.size", str(len(value or b"")).encode()),
                ("dlq.value.sha256", hashlib.sha256(value or b"").hexdigest().encode()),
            ]
            value = None if value is None else value[: self.VALUE_PREFIX_BYTES]
            if key is not None and len(key) > self.KEY_PREFIX_BYTES:
                headers += [
                    ("dlq.key.size", str(len(key)).encode()),
                    ("dlq.key.sha256", hashlib.sha256(key).hexdigest().encode()),
                ]
                key = key[: self.KEY_PREFIX_BYTES]

        def on_delivery(err: Any, _msg: Any) -> None:
            outcomes[origin] = err

        from confluent_kafka import KafkaException

        outcomes[origin] = "not acknowledged"  # until the delivery report says otherwise
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain, then try again
                self.producer.poll(0.5)
            except KafkaException as exc:  # refused before it left (too large for the client, say)
                outcomes[origin] = exc.args[0] if exc.args else exc
                return

    def close(self) -> None:
        self.producer.flush(self.timeout)
