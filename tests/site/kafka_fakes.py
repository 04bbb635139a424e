"""Small fakes with librdkafka's method names, for the consumer loop's in-process tests.

``FakeConsumer`` has ``consume``, ``commit``, ``assignment`` and ``close``; ``FakeProducer`` has
``produce``, ``poll`` and ``flush``; ``FakeMessage`` has a message's accessors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, TopicPartition


@dataclass
class FakeError:
    text: str
    is_fatal: bool = False

    def fatal(self) -> bool:
        return self.is_fatal

    def __str__(self) -> str:
        return self.text


@dataclass
class FakeMessage:
    _value: bytes | None
    _key: bytes | None = b"EX1"
    _topic: str = "telemetry"
    _partition: int = 0
    _offset: int = 0
    _error: FakeError | None = None

    def value(self):
        return self._value

    def key(self):
        return self._key

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def error(self):
        return self._error


def message(record: dict | None = None, *, raw: bytes | None = None, partition: int = 0, offset: int = 0, key=b"EX1"):
    value = raw if raw is not None else json.dumps(record or {"identifier": "EX1", "timestamp": offset}).encode()
    return FakeMessage(value, key, "telemetry", partition, offset)


@dataclass
class FakeConsumer:
    batches: list[list[FakeMessage]]
    assigned: bool = True
    asked: list[int] = field(default_factory=list)
    commits: list[list[TopicPartition]] = field(default_factory=list)
    commit_error: KafkaException | None = None
    closed: bool = False

    def consume(self, limit: int, timeout: float) -> list[FakeMessage]:
        self.asked.append(limit)
        return self.batches.pop(0) if self.batches else []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("telemetry", 0)] if self.assigned else []

    def commit(self, offsets, asynchronous):
        assert asynchronous is False
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(offsets)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    """Delivers every record at once, or answers ``delivery_error``; ``refuse(record)``, when given,
    decides per record instead (its answer is the delivery error, None to deliver); ``max_bytes``
    refuses a larger value in ``produce`` itself, as librdkafka does past its message.max.bytes."""

    undelivered: int = 0
    delivery_error: object = None
    refuse: Callable[[dict], object] | None = None
    max_bytes: int | None = None
    produced: list[dict] = field(default_factory=list)
    flushes: list[float] = field(default_factory=list)

    def produce(self, topic, value, key, headers=None, on_delivery=None):
        if self.max_bytes is not None and len(value or b"") > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        record = {"topic": topic, "value": value, "key": key, "headers": dict(headers or ())}
        self.produced.append(record)
        on_delivery(self.delivery_error if self.refuse is None else self.refuse(record), None)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes.append(timeout)
        return self.undelivered
