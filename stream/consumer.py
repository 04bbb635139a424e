"""The one consumer loop every ``consume_*`` command runs.

poll a batch -> decode and validate each message -> hand the good ones to the service's handler
-> dead-letter the bad ones -> commit the batch's offsets. Offsets are committed only after the
handler returned (the batch is persisted) and the dead letters were delivered, so a crash at any
point replays the batch, and the handlers' idempotent writes make the replay change nothing.

A transient fault (database, registry or broker unreachable) is retried with capped exponential
backoff and commits nothing. Anything else is about the data, and no message stops the loop: any
exception while decoding or validating one dead-letters that message, and a handler failure that
is not transient is narrowed down, by handling halves of the batch, to the records that fail on
their own, which are dead-lettered while the rest is persisted (docs/CONSUMERS.md). ``stop()`` —
what the signal handlers call — only sets a flag: the loop finishes the batch in hand, commits,
closes the consumer and returns.

The dead letters' producer is ``stream.dead_letters``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream.codecs import DecodeError, TransientError
from stream.dead_letters import DeadLetterSink, _origin
from stream.observers import BatchTrace, LoopObserver

logger = logging.getLogger("telemetry.consumer")


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded message with its origin."""

    value: dict
    key: bytes | None
    topic: str
    partition: int
    offset: int


class Handler(Protocol):
    def handle(self, records: Sequence[Record]) -> None:
        """Persist ``records`` idempotently; raise to leave the batch uncommitted."""


class Codec(Protocol):
    def decode(self, data: bytes | None) -> dict: ...


@dataclass(frozen=True)
class BatchReport:
    """What one committed batch did, for the ops views (last processed message per service)."""

    service: str
    messages: int
    processed: int
    dead_lettered: int
    last_topic: str
    last_partition: int
    last_offset: int
    last_key: str | None
    last_event_at: int | None
    committed_at: int
    duration_ms: float


@dataclass
class LoopStats:
    batches: int = 0
    messages: int = 0
    processed: int = 0
    dead_lettered: int = 0
    retries: int = 0
    committed: dict[tuple[str, int], int] = field(default_factory=dict)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means "a dependency is down, try again" rather than "this data is bad"."""
    if isinstance(exc, TransientError):
        return True
    from stream.mongo import is_transient_error

    if is_transient_error(exc):  # unreachable, failing over, timed out, or a majority not reached
        return True
    from confluent_kafka import KafkaException

    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        # librdkafka recovers by itself from every error that is not fatal, the retriable ones
        # included; a fatal error leaves the client unusable, so retrying would only spin.
        return not getattr(error, "fatal", lambda: True)()
    return False


def freeze_startup_objects() -> None:
    """Exempt what start-up built (Django, settings, clients, schemas) from the cyclic garbage collector.

    A consumer allocates tens of container objects per message, so the collector runs often, and
    each full collection walked every object the process ever imported: profiling showed it taking
    more time than decoding. ``gc.freeze()`` moves the objects alive now to a permanent generation
    that collections skip (they are still freed by reference counting). Called by the ``consume_*``
    commands once the loop is built, in the process that runs it.
    """
    gc.collect()
    gc.freeze()


def describe(exc: BaseException) -> str:
    """An exception as a dead letter's reason: a ``DecodeError``'s own text, else its type and text."""
    try:
        text = str(exc)
    except Exception:  # an exception whose text cannot be built (a huge int in it, say) still has a type
        text = "(no text)"
    return text if isinstance(exc, DecodeError) else f"{type(exc).__name__}: {text}"


class ConsumerLoop:
    """Runs one service: a consumer, a codec, an optional validator, a handler, a dead-letter sink."""

    def __init__(
        self,
        *,
        consumer: Any,
        codec: Codec,
        handler: Handler,
        dead_letters: DeadLetterSink,
        validator: Callable[[dict], list[str]] | None = None,
        batch_size: int,
        batch_wait: float,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
        backoff: float,
        backoff_max: float,
        name: str,
        on_batch: Callable[[BatchReport], None] | None = None,
        observer: LoopObserver | None = None,
    ) -> None:
        self.consumer = consumer
        self.codec = codec
        self.handler = handler
        self.dead_letters = dead_letters
        self.validator = validator
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.max_messages = max_messages
        self.idle_timeout = idle_timeout
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.name = name
        self.on_batch = on_batch
        self.observer = observer or LoopObserver()
        self.stats = LoopStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish its batch and return. Safe to call from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> LoopStats:
        last_activity = time.monotonic()
        joined = False
        try:
            while not self.stopping:
                limit = self.batch_size
                if self.max_messages is not None:
                    limit = min(limit, self.max_messages - self.stats.messages)
                    if limit <= 0:
                        break
                messages = self._poll(limit)
                self.observer.polled(messages)
                joined = joined or bool(self.consumer.assignment())
                if messages or not joined:
                    # Idle time counts once the group first gave us partitions (joining takes
                    # seconds), and goes on through later rebalances: a member left without
                    # partitions by one (more members than partitions, or a broker slow to settle)
                    # still stops when nothing comes.
                    last_activity = time.monotonic()
                if messages:
                    self._process(messages)
                elif self.idle_timeout is not None and time.monotonic() - last_activity >= self.idle_timeout:
                    logger.info("%s idle for %.1fs, stopping", self.name, self.idle_timeout)
                    break
        finally:
            self._close()
        return self.stats

    def _poll(self, limit: int) -> list[Any]:
        messages = []
        for message in self.consumer.consume(limit, timeout=self.batch_wait):
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.fatal():
                raise RuntimeError(f"fatal Kafka error: {error}")
            else:
                # Broker down, partition EOF, rebalance noise: librdkafka recovers by itself.
                logger.warning("%s kafka: %s", self.name, error)
        return messages

    def _process(self, messages: list[Any]) -> None:
        """Handle, dead-letter and commit one batch. A stop requested while a dependency is down
        returns at once with nothing committed; the stop flag then ends ``run``."""
        started = time.monotonic()
        records: list[Record] = []
        failures: list[tuple[Any, str]] = []
        for message in messages:
            try:
                value = self._retry(lambda m=message: self.codec.decode(m.value()))
            except _Stopped:
                return
            except Exception as exc:  # a DecodeError, or whatever else a hostile message makes a codec raise
                failures.append((message, f"decode: {describe(exc)}"))
                continue
            try:
                problems = self.validator(value) if self.validator is not None else []
            except Exception as exc:  # a rule broken by a value it did not foresee: the value is bad
                problems = [describe(exc)]
            if problems:
                failures.append((message, "validation: " + "; ".join(problems)))
                continue
            records.append(Record(value, message.key(), message.topic(), message.partition(), message.offset()))
        delivered: set[tuple[str, int, int]] = set()  # dead letters already out, across retries
        handling = time.monotonic()
        try:
            if records:
                refused = self._handle(records)
                if refused:
                    by_origin = {_origin(message): message for message in messages}
                    failures += [(by_origin[(r.topic, r.partition, r.offset)], reason) for r, reason in refused]
                    rejected = {id(record) for record, _ in refused}
                    records = [record for record in records if id(record) not in rejected]
            handled = time.monotonic()
            self._retry(lambda: self.dead_letters.send(failures, delivered))
        except _Stopped:
            return
        committing = time.monotonic()
        self._commit(messages)
        self.observer.batch_done(
            self, BatchTrace(messages, failures, started, handling, handled, committing, time.monotonic())
        )
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.processed += len(records)
        self.stats.dead_lettered += len(failures)
        duration_ms = (time.monotonic() - started) * 1000
        logger.info(
            "%s batch=%d messages=%d processed=%d dead_lettered=%d ms=%.1f",
            self.name,
            self.stats.batches,
            len(messages),
            len(records),
            len(failures),
            duration_ms,
            extra={  # the fields of a JSON log line (LOG_FORMAT=json)
                "service": self.name,
                "batch": self.stats.batches,
                "partitions": sorted({message.partition() for message in messages}),
                "messages": len(messages),
                "processed": len(records),
                "dead_lettered": len(failures),
                "duration_ms": round(duration_ms, 1),
            },
        )
        if self.on_batch is not None:
            self._report(messages[-1], records, len(failures), duration_ms)

    def _report(self, last: Any, records: list[Record], dead_lettered: int, duration_ms: float) -> None:
        key = last.key()
        report = BatchReport(
            service=self.name,
            messages=len(records) + dead_lettered,
            processed=len(records),
            dead_lettered=dead_lettered,
            last_topic=last.topic(),
            last_partition=last.partition(),
            last_offset=last.offset(),
            last_key=key.decode("utf-8", "replace") if key is not None else None,
            last_event_at=records[-1].value.get("timestamp") if records else None,
            committed_at=int(time.time() * 1000),
            duration_ms=round(duration_ms, 1),
        )
        try:
            self.on_batch(report)
        except Exception as exc:  # monitoring must never stop the pipeline; the batch is committed
            logger.warning("%s could not record progress: %s", self.name, exc)

    def _handle(self, records: list[Record]) -> list[tuple[Record, str]]:
        """Persist ``records``; return those that fail on their own, each with its reason.

        A failure that is not transient is about the data: the records are split in halves and each
        half handled on its own, in order, down to single records. A record that still fails alone
        is refused (dead-lettered); every other record is persisted. One bad record among n costs
        about 2·log2(n) handler calls; the writes of a failed call are replayed by the next, which
        the handlers' idempotence makes harmless.
        """
        try:
            self._retry(lambda: self.handler.handle(records))
            return []
        except _Stopped:
            raise
        except Exception as exc:
            if len(records) == 1:
                (record,) = records
                logger.error(
                    "%s handler refused %s[%d]@%d, dead-lettering it: %s",
                    self.name,
                    record.topic,
                    record.partition,
                    record.offset,
                    describe(exc)[:500],
                )
                return [(record, f"handler: {describe(exc)}")]
            logger.warning(
                "%s handler failed on %d records, handling halves: %s", self.name, len(records), describe(exc)[:500]
            )
        middle = len(records) // 2
        return self._handle(records[:middle]) + self._handle(records[middle:])

    def _retry(self, operation: Callable[[], Any]) -> Any:
        """Run ``operation``, retrying transient faults with capped exponential backoff."""
        delay = self.backoff
        while True:
            try:
                return operation()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self.stopping:
                    logger.warning("%s stop requested while %s; batch left uncommitted", self.name, exc)
                    raise _Stopped from exc
                self.stats.retries += 1
                self.observer.retried(exc)
                logger.warning("%s transient fault, retrying in %.1fs: %s", self.name, delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def _commit(self, messages: list[Any]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        next_offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (message.topic(), message.partition())
            next_offsets[key] = max(next_offsets.get(key, 0), message.offset() + 1)
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Typically a rebalance took the partition away; its new owner replays from the last
            # commit, which the idempotent writes make harmless.
            logger.warning("%s commit failed, batch will be replayed by the partition's owner: %s", self.name, exc)
            return
        self.stats.committed.update(next_offsets)

    def _close(self) -> None:
        try:
            self.dead_letters.close()
        finally:
            self.consumer.close()


class _Stopped(Exception):
    """Internal: a stop was requested while retrying a transient fault."""
