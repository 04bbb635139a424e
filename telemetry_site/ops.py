"""What the ops views show, read from Kafka: consumer lag and the dead-letter topic.

Every function takes the Kafka client factory as an argument and reads without joining a group
or committing anything, so looking never disturbs the consumers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPS_GROUP_ID = "c40-ops-viewer"  # never subscribes nor commits: used only for reads


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int
    lag: int


@dataclass
class GroupLag:
    service: str
    group_id: str
    topic: str
    partitions: list[PartitionLag] = field(default_factory=list)
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


def partition_lag(partition: int, committed: int, low: int, high: int) -> PartitionLag:
    """Lag is end offset - committed offset; a group that never committed lags by all it can read."""
    known = committed if committed >= 0 else None
    start = known if known is not None else low
    return PartitionLag(partition, known, high, max(0, high - start))


def consumer_lag(factory: Any, services: dict[str, dict], timeout: float = 5.0) -> list[GroupLag]:
    """Lag per partition of every service's consumer group on its topic."""
    from confluent_kafka import TopicPartition

    results = []
    for service, definition in services.items():
        group = GroupLag(service, definition["GROUP_ID"], definition["TOPIC"])
        results.append(group)
        consumer = factory.consumer(group.group_id)
        try:
            metadata = consumer.list_topics(group.topic, timeout=timeout).topics.get(group.topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                group.error = f"topic {group.topic!r} not found"
                continue
            partitions = [TopicPartition(group.topic, p) for p in sorted(metadata.partitions)]
            committed = consumer.committed(partitions, timeout=timeout)
            for tp in committed:
                low, high = consumer.get_watermark_offsets(TopicPartition(group.topic, tp.partition), timeout=timeout)
                group.partitions.append(partition_lag(tp.partition, tp.offset, low, high))
        except Exception as exc:  # the page still renders the other groups
            group.error = str(exc)
        finally:
            consumer.close()
    return results


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp: int | None
    key: str | None
    value: bytes
    headers: dict[str, str]

    @property
    def error(self) -> str:
        return self.headers.get("dlq.error", "")

    @property
    def service(self) -> str:
        return self.headers.get("dlq.service", "")

    @property
    def origin(self) -> str:
        topic, partition, offset = (
            self.headers.get(f"dlq.origin.{part}", "?") for part in ("topic", "partition", "offset")
        )
        return f"{topic} [{partition}] @ {offset}"

    @property
    def value_preview(self) -> str:
        text = self.value.decode("utf-8", "replace")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        return text if text and printable / len(text) > 0.9 else self.value.hex(" ")


def _dead_letter(message: Any) -> DeadLetter:
    key = message.key()
    timestamp_type, timestamp = message.timestamp()
    return DeadLetter(
        partition=message.partition(),
        offset=message.offset(),
        timestamp=timestamp if timestamp_type else None,
        key=key.decode("utf-8", "replace") if key is not None else None,
        value=message.value() or b"",
        headers={name: (value or b"").decode("utf-8", "replace") for name, value in (message.headers() or [])},
    )


def read_dead_letters(
    factory: Any, topic: str, partition: int = 0, offset: int | None = None, limit: int = 50, timeout: float = 5.0
) -> tuple[list[DeadLetter], int]:
    """Up to ``limit`` dead letters of one partition from ``offset`` (default: the oldest kept),
    and the offset of the first one of the partition."""
    from confluent_kafka import TopicPartition

    consumer = factory.consumer(OPS_GROUP_ID)
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        start = low if offset is None else max(offset, low)
        consumer.assign([TopicPartition(topic, partition, start)])
        letters: list[DeadLetter] = []
        # End offsets are not trusted to stop the read (some brokers report them per batch), so
        # read until the limit or until the partition has had nothing more for a moment.
        wait = timeout
        while len(letters) < limit:
            batch = consumer.consume(limit - len(letters), timeout=wait)
            good = [m for m in batch if m.error() is None]
            if not good:
                break
            letters += [_dead_letter(m) for m in good]
            wait = 0.5
        return letters, low
    finally:
        consumer.close()
