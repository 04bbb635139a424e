"""What the ops views show, read from Kafka: consumer lag and the dead-letter topic.

Every function takes the Kafka client factory as an argument and reads without joining a group
or committing anything, so looking never disturbs the consumers.
"""

from __future__ import annotations

import time
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


# The ops clients live for one page: they ask the broker for little and do not wait for more. A
# client's second connection (to the broker the bootstrap metadata names) waits reconnect.backoff.ms
# (jittered): the consumers' 1 s cost every page 0.5 s; Tansu answers on the same address at once.
CONNECT_QUICKLY = {"reconnect.backoff.ms": 10}
READER_OPTIONS = {**CONNECT_QUICKLY, "fetch.wait.max.ms": 50, "fetch.max.bytes": 4 * 1024 * 1024}


def end_offsets(consumer: Any, watermarks: dict[tuple[str, int], tuple[int, int]], timeout: float) -> dict:
    """The offset after the last record of each partition, from its ``(low, high)`` watermarks.

    On Kafka that is the high watermark. The embedded broker (Tansu) reports the base offset of
    the partition's last record batch plus one instead (a batch of 25 records ended at "1"), so the
    last batch is read: its last record's offset + 1 is the end on both brokers (on Kafka the read
    returns the one record at high - 1). A partition whose read times out keeps its high watermark.
    """
    from confluent_kafka import TopicPartition

    ends = {key: high for key, (_low, high) in watermarks.items()}
    pending = {key for key, (low, high) in watermarks.items() if high > low}
    if not pending:
        return ends
    consumer.assign([TopicPartition(topic, partition, ends[(topic, partition)] - 1) for topic, partition in pending])
    deadline = time.monotonic() + timeout
    while pending and (remaining := deadline - time.monotonic()) > 0:
        # consume(n, timeout) waits for n messages or the whole timeout: wait for one message,
        # then take what was fetched with it (a batch arrives whole).
        first = consumer.poll(remaining)
        for message in [first, *consumer.consume(10_000, timeout=0)] if first is not None else []:
            if message.error() is None:
                key = (message.topic(), message.partition())
                ends[key] = max(ends[key], message.offset() + 1)
                pending.discard(key)
    consumer.unassign()
    return ends


def consumer_lag(factory: Any, services: dict[str, dict], timeout: float = 5.0) -> list[GroupLag]:
    """Lag per partition of every service's consumer group on its topic.

    One reader and one admin client serve every group: the committed offsets of all groups are
    asked at once, and the end of a topic that several groups read is found once.
    """
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    results = [GroupLag(name, definition["GROUP_ID"], definition["TOPIC"]) for name, definition in services.items()]
    consumer = factory.consumer(OPS_GROUP_ID, **READER_OPTIONS)
    try:
        metadata = consumer.list_topics(timeout=timeout).topics
        partitions: dict[str, list[int]] = {}
        for group in results:
            topic = metadata.get(group.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                group.error = f"topic {group.topic!r} not found"
            else:
                partitions[group.topic] = sorted(topic.partitions)
        watermarks = {
            (topic, partition): consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            for topic, numbers in partitions.items()
            for partition in numbers
        }
        ends = end_offsets(consumer, watermarks, timeout)
        admin = factory.admin(**CONNECT_QUICKLY)
        asked = {
            group.group_id: admin.list_consumer_group_offsets(
                [
                    ConsumerGroupTopicPartitions(
                        group.group_id, [TopicPartition(group.topic, p) for p in partitions[group.topic]]
                    )
                ],
                request_timeout=timeout,
            )[group.group_id]
            for group in results
            if group.error is None
        }
        for group in results:
            if group.error is not None:
                continue
            try:
                committed = asked[group.group_id].result(timeout).topic_partitions
            except Exception as exc:  # the page still renders the other groups
                group.error = str(exc)
                continue
            for tp in sorted(committed, key=lambda tp: tp.partition):
                low, _high = watermarks[(group.topic, tp.partition)]
                group.partitions.append(partition_lag(tp.partition, tp.offset, low, ends[(group.topic, tp.partition)]))
    except Exception as exc:  # the broker is down: every group says so
        for group in results:
            group.error = group.error or str(exc)
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
    and the offset of the first one of the partition.

    The read stops at the partition's end (``end_offsets``), so a page does not wait for records
    that are not there: the first visit of an empty topic took 5 s.
    """
    from confluent_kafka import TopicPartition

    consumer = factory.consumer(OPS_GROUP_ID, **READER_OPTIONS)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        end = end_offsets(consumer, {(topic, partition): (low, high)}, timeout)[(topic, partition)]
        start = low if offset is None else max(offset, low)
        found: dict[int, DeadLetter] = {}
        if start < end:
            consumer.assign([TopicPartition(topic, partition, start)])
            deadline = time.monotonic() + timeout
            while len(found) < limit and (remaining := deadline - time.monotonic()) > 0:
                first = consumer.poll(remaining)
                for message in [first, *consumer.consume(limit, timeout=0)] if first is not None else []:
                    if message.error() is None and start <= message.offset() and message.partition() == partition:
                        found.setdefault(message.offset(), _dead_letter(message))
                if found and max(found) + 1 >= end:
                    break
        return [found[key] for key in sorted(found)][:limit], low
    finally:
        consumer.close()
