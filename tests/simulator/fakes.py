"""A recording stand-in for the Kafka client factory, named by dotted path in TELEMETRY_KAFKA."""

from __future__ import annotations

import signal
from typing import Any


class RecordingProducer:
    """Keeps every produced message; optionally raises SIGTERM at the Nth one or leaves some undelivered."""

    def __init__(self, signal_at: int | None = None, undelivered: int = 0) -> None:
        self.messages: list[tuple[str, bytes, bytes]] = []
        self.signal_at = signal_at
        self.undelivered = undelivered
        self.flushed = False

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any = None) -> None:
        self.messages.append((topic, key, value))
        if on_delivery is not None:
            on_delivery(None, None)
        if self.signal_at is not None and len(self.messages) == self.signal_at:
            signal.raise_signal(signal.SIGTERM)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        self.flushed = True
        return self.undelivered


class FakeKafka:
    """The registry caches this factory, so a test finds the producers it built at ``backends.kafka``."""

    def __init__(self, **producer_options: Any) -> None:
        self.producer_options = producer_options
        self.bootstrap_servers = "fake:9092"
        self.producers: list[RecordingProducer] = []

    def producer(self) -> RecordingProducer:
        self.producers.append(RecordingProducer(**self.producer_options))
        return self.producers[-1]
