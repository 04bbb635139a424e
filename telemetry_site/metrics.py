"""Prometheus metrics of the consumers (docs/OPERATIONS.md); the web server's are ``http_metrics``, each
app's its own (``equipment_usage.metrics``).

Nothing is created at import: each family of metrics is built on first use, once per registry
(``prometheus_client``'s default one unless a test passes its own), so importing this module
registers nothing and opens nothing.

Label values are bounded: a service name, a partition number (at most the topic's partitions), a
reason class, a dependency, a URL *pattern*, a method, a status code. No identifier, key, offset
or URL ever becomes a label.

Exposition: each consumer process serves ``/metrics`` on ``METRICS_PORT`` (off when 0,
``serve``); the web server answers ``/metrics`` itself (``metrics_view``), aggregating every
gunicorn worker through the client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set
(``deploy/gunicorn.conf.py`` sets it).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stream.consumer import ConsumerLoop
from stream.observers import BatchTrace, LoopObserver

# Reason classes of a dead letter: the reason's first word, when it is one of these.
REASON_CLASSES = ("decode", "validation", "handler")
OTHER = "other"
DEPENDENCIES = ("mongodb", "kafka", "schema_registry", OTHER)

# A batch of 500 takes milliseconds with counted database calls and seconds on a loaded store;
# a retried batch can take minutes (the handler's time includes its retries).
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


logger = logging.getLogger(__name__)


def default_registry() -> Any:
    from prometheus_client import REGISTRY

    return REGISTRY


def once_per_registry(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``build(registry)`` run once per registry, however many threads ask at once.

    ``functools.cache`` would not do: two threads that miss the cache together both build, and
    the registry refuses the second family ("Duplicated timeseries"), which was a 500 on the first
    parallel requests to every fresh threaded gunicorn worker (issue 32). A lock around the first
    build only; later calls read the dict without it."""
    built: dict[Any, Any] = {}
    lock = threading.Lock()

    @functools.wraps(build)
    def families(registry: Any = None) -> Any:
        try:
            return built[registry]
        except KeyError:
            pass
        with lock:
            if registry not in built:
                built[registry] = build(registry)
            return built[registry]

    families.cache_clear = built.clear  # type: ignore[attr-defined]
    return families


# --- the consumer loop ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerFamilies:
    consumed: Any
    processed: Any
    dead_lettered: Any
    batches: Any
    batch_duration: Any
    handler_duration: Any
    commit_duration: Any
    commit_failures: Any
    retries: Any
    committed_offset: Any
    committed_at: Any
    lag: Any
    last_message_at: Any


@once_per_registry
def consumer_families(registry: Any = None) -> ConsumerFamilies:
    """The consumer metrics, registered once per registry (process-wide for the default one)."""
    from prometheus_client import Counter, Gauge, Histogram

    registry = registry or default_registry()
    per_partition = ("service", "partition")
    return ConsumerFamilies(
        consumed=Counter(
            "c40_consumer_messages_consumed",
            "Messages polled from Kafka (a replayed batch counts again).",
            per_partition,
            registry=registry,
        ),
        processed=Counter(
            "c40_consumer_messages_processed",
            "Messages decoded, validated and persisted by the service's handler, committed.",
            per_partition,
            registry=registry,
        ),
        dead_lettered=Counter(
            "c40_consumer_messages_dead_lettered",
            "Messages sent to the dead-letter topic, by reason class (decode, validation, handler, other).",
            (*per_partition, "reason"),
            registry=registry,
        ),
        batches=Counter("c40_consumer_batches", "Batches handled and committed.", ("service",), registry=registry),
        batch_duration=Histogram(
            "c40_consumer_batch_duration_seconds",
            "From the poll's return to the commit's, per batch.",
            ("service",),
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        handler_duration=Histogram(
            "c40_consumer_handler_duration_seconds",
            "The service's handler per batch, retries of transient faults included.",
            ("service",),
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        commit_duration=Histogram(
            "c40_consumer_commit_duration_seconds",
            "The synchronous offset commit per batch.",
            ("service",),
            buckets=COMMIT_BUCKETS,
            registry=registry,
        ),
        commit_failures=Counter(
            "c40_consumer_commit_failures",
            "Batches whose commit failed (a rebalance took a partition; its new owner replays it).",
            ("service",),
            registry=registry,
        ),
        retries=Counter(
            "c40_consumer_transient_retries",
            "Transient faults retried, by the dependency that failed (mongodb, kafka, schema_registry, other).",
            ("service", "dependency"),
            registry=registry,
        ),
        committed_offset=Gauge(
            "c40_consumer_last_committed_offset",
            "The offset last committed (the next one to read), per partition this process owned.",
            per_partition,
            registry=registry,
        ),
        committed_at=Gauge(
            "c40_consumer_last_commit_timestamp_seconds",
            "When this process last committed on the partition (Unix time).",
            per_partition,
            registry=registry,
        ),
        lag=Gauge(
            "c40_consumer_lag_messages",
            "End offset minus committed offset after the last batch, from the consumer's cached high watermark.",
            per_partition,
            registry=registry,
        ),
        last_message_at=Gauge(
            "c40_consumer_last_message_timestamp_seconds",
            "When the last message arrived (Unix time); the process's start until one does.",
            ("service",),
            registry=registry,
        ),
    )


def reason_class(reason: str) -> str:
    """``"decode: …"`` -> ``decode``: the bounded label of a dead letter's reason."""
    head = reason.split(":", 1)[0].strip().lower()
    return head if head in REASON_CLASSES else OTHER


def dependency_of(exc: BaseException) -> str:
    """Which dependency a transient fault came from, as a bounded label."""
    for cls in type(exc).__mro__:
        module = cls.__module__ or ""
        if module.startswith("pymongo"):
            return "mongodb"
        if module.startswith(("confluent_kafka.schema_registry", "requests")):
            return "schema_registry"
        if module.startswith(("confluent_kafka", "cimpl")):
            return "kafka"
    # The project's TransientError says in its message what failed (see its raise sites); the
    # usage repository's ConcurrentCorrection is a write race in MongoDB.
    text = str(exc).lower()
    if "schema registry" in text:
        return "schema_registry"
    if " topic " in f" {text}" or "kafka" in text or "broker" in text:
        return "kafka"
    if type(exc).__module__.startswith("equipment_usage.repository") or "mongo" in text:
        return "mongodb"
    return OTHER


class _Partition:
    """The labelled children of one partition, looked up once (``labels()`` takes a lock and a dict)."""

    __slots__ = ("committed_at", "committed_offset", "consumed", "dead_lettered", "lag", "processed")

    def __init__(self, families: ConsumerFamilies, service: str, partition: int) -> None:
        label = str(partition)
        self.consumed = families.consumed.labels(service, label)
        self.processed = families.processed.labels(service, label)
        # Every reason class exists from the start at 0, so that rate() sees the first dead letter.
        self.dead_lettered = {
            reason: families.dead_lettered.labels(service, label, reason) for reason in (*REASON_CLASSES, OTHER)
        }
        self.committed_offset = families.committed_offset.labels(service, label)
        self.committed_at = families.committed_at.labels(service, label)
        self.lag = families.lag.labels(service, label)


class ConsumerMetrics(LoopObserver):
    """The loop's observer that keeps the Prometheus metrics of one service.

    Per batch it costs a pass over the batch's messages (partition counts) and a handful of
    counter, gauge and histogram updates; docs/OPERATIONS.md has the measured cost.
    """

    def __init__(self, service: str, families: ConsumerFamilies | None = None) -> None:
        self.service = service
        self.families = families or consumer_families()
        self._partitions: dict[int, _Partition] = {}
        self._retries: dict[str, Any] = {}
        self._offsets: dict[int, int] = {}
        # The last poll's messages and their count per partition: batch_done reuses the count, so
        # the observer passes over a batch's messages once.
        self._polled: tuple[list[Any], dict[int, int]] = ([], {})
        f = self.families
        self._batches = f.batches.labels(service)
        self._batch_duration = f.batch_duration.labels(service)
        self._handler_duration = f.handler_duration.labels(service)
        self._commit_duration = f.commit_duration.labels(service)
        self._commit_failures = f.commit_failures.labels(service)
        self._last_message_at = f.last_message_at.labels(service)
        self._last_message_at.set(time.time())
        for dependency in DEPENDENCIES:
            self._retries[dependency] = f.retries.labels(service, dependency)

    def partition(self, partition: int) -> _Partition:
        children = self._partitions.get(partition)
        if children is None:
            children = self._partitions[partition] = _Partition(self.families, self.service, partition)
        return children

    def polled(self, messages: list[Any]) -> None:
        if not messages:
            return
        self._last_message_at.set(time.time())
        counts = Counter([message.partition() for message in messages])
        self._polled = (messages, counts)
        for partition, count in counts.items():
            self.partition(partition).consumed.inc(count)

    def retried(self, exc: BaseException) -> None:
        self._retries[dependency_of(exc)].inc()

    def batch_done(self, loop: ConsumerLoop, batch: BatchTrace) -> None:
        polled, counts = self._polled
        if polled is not batch.messages:
            counts = Counter([message.partition() for message in batch.messages])
        # Every message of a committed batch was either persisted or dead-lettered (the loop's
        # promise), so what was processed is what was polled less the dead letters.
        processed = dict(counts)
        for message, reason in batch.failures:
            partition = message.partition()
            processed[partition] -= 1
            self.partition(partition).dead_lettered[reason_class(reason)].inc()
        for partition, count in processed.items():
            if count:
                self.partition(partition).processed.inc(count)
        self._batches.inc()
        self._batch_duration.observe(batch.committed - batch.started)
        self._handler_duration.observe(batch.handled - batch.handling)
        self._commit_duration.observe(batch.committed - batch.committing)
        self._committed(loop, batch, counts)

    def _committed(self, loop: ConsumerLoop, batch: BatchTrace, partitions: Iterable[int]) -> None:
        """Offsets, commit time and lag of the batch's partitions, from what the loop committed."""
        topic = batch.messages[0].topic()
        now = time.time()
        failed = False
        for partition in partitions:
            offset = loop.stats.committed.get((topic, partition))
            if offset is None or offset == self._offsets.get(partition):
                failed = True  # the loop keeps the last offset it committed: this batch's did not land
                continue
            self._offsets[partition] = offset
            children = self.partition(partition)
            children.committed_offset.set(offset)
            children.committed_at.set(now)
            high = high_watermark(loop.consumer, topic, partition)
            if high is not None:
                children.lag.set(max(0, high - offset))
        if failed:
            self._commit_failures.inc()
        self._forget_revoked(loop.consumer)

    def _forget_revoked(self, consumer: Any) -> None:
        """Drop the offset, commit-time and lag series of partitions a rebalance took away, so that
        the partition's new owner is the only one reporting them (counters stay: they are totals)."""
        try:
            assigned = {tp.partition for tp in consumer.assignment()}
        except Exception:  # a closed consumer: keep the series until the next batch
            return
        for partition in [p for p in self._offsets if p not in assigned]:
            del self._offsets[partition]
            self._partitions.pop(partition, None)  # rebuilt on its return: counters keep their values
            label = str(partition)
            for family in (self.families.committed_offset, self.families.committed_at, self.families.lag):
                with contextlib.suppress(KeyError):  # never set (no watermark known yet)
                    family.remove(self.service, label)


def high_watermark(consumer: Any, topic: str, partition: int) -> int | None:
    """The partition's end offset as librdkafka last saw it in a fetch response: no request to the
    broker. None when unknown (no fetch yet, or a consumer that cannot tell)."""
    from confluent_kafka import TopicPartition

    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
    except Exception:  # a closed consumer, a stand-in without watermarks: no lag figure this time
        return None
    return high if high is not None and high >= 0 else None


def consumer_observer(service: str) -> LoopObserver:
    """The observer ``build_consumer_loop`` gives the loop: metrics, unless METRICS_ENABLED is off."""
    from django.conf import settings

    if not getattr(settings, "METRICS_ENABLED", True):
        return LoopObserver()
    return ConsumerMetrics(service)


def serve(port: int, address: str = "0.0.0.0", registry: Any = None) -> Any:
    """Serve ``/metrics`` of ``registry`` on ``address:port`` from a daemon thread; returns the
    server (``shutdown()`` and ``server_close()`` stop it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, address, registry=registry or default_registry())
    return server
