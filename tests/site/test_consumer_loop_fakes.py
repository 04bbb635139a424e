"""The shared consumer loop's own logic, in-process: batching, dead letters, retries, commits, stop.

The consumer and producer here are small fakes with librdkafka's method names (``consume``,
``commit``, ``assignment``, ``close``; ``produce``, ``flush``) returning fake messages. They pin
the loop's decisions quickly; ``test_consumer_loop.py`` proves the same loop against the real broker.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from hashlib import sha256

import pytest
from confluent_kafka import KafkaError, KafkaException
from pymongo.errors import AutoReconnect

from stream.codecs import DecodeError, TransientError
from stream.consumer import ConsumerLoop, Record, is_transient
from stream.dead_letters import DeadLetterSink
from tests.site.kafka_fakes import FakeConsumer, FakeError, FakeMessage, FakeProducer, message


class JsonCodec:
    def decode(self, data: bytes | None) -> dict:
        try:
            return json.loads(data or b"")
        except ValueError as exc:
            raise DecodeError(f"not JSON: {data!r}") from exc


@dataclass
class Handler:
    failures: list[Exception] = field(default_factory=list)
    batches: list[list[Record]] = field(default_factory=list)

    def handle(self, records) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(list(records))


def loop(consumer: FakeConsumer, handler: Handler | None = None, producer: FakeProducer | None = None, **options):
    sink = DeadLetterSink(producer or FakeProducer(), "deadletter", "current", timeout=3.0)
    options = {
        "batch_size": 500,
        "batch_wait": 1.0,
        "backoff": 0.001,
        "backoff_max": 0.002,
        "idle_timeout": 0.0,
        "name": "current",
        **options,
    }
    handler = handler or Handler()
    return ConsumerLoop(consumer=consumer, codec=JsonCodec(), handler=handler, dead_letters=sink, **options)


def committed(consumer: FakeConsumer) -> list[list[tuple[str, int, int]]]:
    return [[(tp.topic, tp.partition, tp.offset) for tp in offsets] for offsets in consumer.commits]


def now_ms() -> int:
    return int(time.time() * 1000)


def warnings(log: LogLines) -> list[str]:
    return [record.getMessage() for record in log.records if record.levelno == logging.WARNING]


class LogLines(logging.Handler):
    """What the loop logs for operators, each record once (whether or not "telemetry" propagates)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def log():
    logger = logging.getLogger("telemetry.consumer")
    lines, level = LogLines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(lines)
    logger.setLevel(level)


def test_a_batch_is_handled_then_committed_at_the_next_offset_of_each_partition(log):
    batch = [message(offset=5), message(partition=1, offset=9), message(offset=6), message(partition=1, offset=8)]
    consumer, handler = FakeConsumer([batch]), Handler()
    stats = loop(consumer, handler).run()
    assert re.fullmatch(r"current batch=1 messages=4 processed=4 dead_lettered=0 ms=\d+\.\d", log.messages[0])
    assert [(r.partition, r.offset, r.key, r.topic) for r in handler.batches[0]] == [
        (0, 5, b"EX1", "telemetry"),
        (1, 9, b"EX1", "telemetry"),
        (0, 6, b"EX1", "telemetry"),
        (1, 8, b"EX1", "telemetry"),
    ]
    assert handler.batches[0][0].value == {"identifier": "EX1", "timestamp": 5}
    assert committed(consumer) == [[("telemetry", 0, 7), ("telemetry", 1, 10)]]
    assert (stats.batches, stats.messages, stats.processed, stats.dead_lettered) == (1, 4, 4, 0)
    assert stats.committed == {("telemetry", 0): 7, ("telemetry", 1): 10}
    assert consumer.closed


def test_bad_messages_are_dead_lettered_with_their_origin_and_the_rest_committed():
    batch = [
        message(raw=b"garbage", offset=1, key=None),
        message({"identifier": "", "timestamp": 2}, offset=2),
        message(offset=3),
    ]
    consumer, handler, producer = FakeConsumer([batch]), Handler(), FakeProducer()

    def validator(record: dict) -> list[str]:
        return ["identifier: empty", "timestamp: odd"] if not record["identifier"] else []

    before = now_ms()
    stats = loop(consumer, handler, producer, validator=validator).run()
    after = now_ms()
    assert [r.offset for r in handler.batches[0]] == [3]
    first, second = producer.produced
    assert (first["topic"], first["value"], first["key"]) == ("deadletter", b"garbage", None)
    assert first["headers"]["dlq.error"] == b"decode: not JSON: b'garbage'"
    assert first["headers"]["dlq.service"] == b"current"
    assert first["headers"]["dlq.origin.topic"] == b"telemetry"
    assert first["headers"]["dlq.origin.partition"] == b"0"
    assert first["headers"]["dlq.origin.offset"] == b"1"
    assert before <= int(first["headers"]["dlq.failed_at"]) <= after  # epoch milliseconds
    assert (second["value"], second["key"]) == (b'{"identifier": "", "timestamp": 2}', b"EX1")  # untouched
    assert second["headers"]["dlq.error"] == b"validation: identifier: empty; timestamp: odd"
    assert producer.flushes[0] == 3.0
    assert committed(consumer) == [[("telemetry", 0, 4)]]
    assert (stats.messages, stats.processed, stats.dead_lettered) == (3, 1, 2)


def test_a_batch_of_only_bad_messages_calls_no_handler_and_is_committed():
    consumer, handler = FakeConsumer([[message(raw=b"x", offset=0)]]), Handler()
    stats = loop(consumer, handler).run()
    assert handler.batches == [] and committed(consumer) == [[("telemetry", 0, 1)]]
    assert stats.dead_lettered == 1


def test_the_dead_letter_error_is_cut_to_4096_bytes():
    producer = FakeProducer()
    loop(FakeConsumer([[message(raw=b"x" * 5000)]]), producer=producer).run()
    assert len(producer.produced[0]["headers"]["dlq.error"]) == 4096


def test_a_reason_that_utf8_cannot_encode_is_dead_lettered_with_replacement_characters():
    # JSON may escape a lone surrogate, and a validator may quote the field: encoding the reason
    # strictly would raise, and that one message would stop the consumer on every restart.
    raw = b'{"identifier": "EX\\udcff", "timestamp": 1}'
    consumer, producer = FakeConsumer([[message(raw=raw, offset=4)]]), FakeProducer()

    def quoting(record: dict) -> list[str]:
        return [f"identifier: {record['identifier']} is not registered"]

    stats = loop(consumer, producer=producer, validator=quoting).run()
    assert producer.produced[0]["value"] == raw
    assert producer.produced[0]["headers"]["dlq.error"] == b"validation: identifier: EX? is not registered"
    assert stats.dead_lettered == 1 and committed(consumer) == [[("telemetry", 0, 5)]]


def test_transient_faults_are_retried_and_counted_then_the_batch_commits(log):
    handler = Handler(failures=[TransientError("db down"), AutoReconnect("mongo:27017 refused")])
    consumer = FakeConsumer([[message(offset=0)]])
    stats = loop(consumer, handler, backoff=0.25, backoff_max=0.5).run()
    assert stats.retries == 2 and len(handler.batches) == 1
    assert committed(consumer) == [[("telemetry", 0, 1)]]
    assert warnings(log) == [
        "current transient fault, retrying in 0.2s: db down",  # %.1f of 0.25
        "current transient fault, retrying in 0.5s: mongo:27017 refused",
    ]


def test_backoff_doubles_up_to_its_cap():
    waits = []
    handler = Handler(failures=[TransientError("down")] * 4)
    subject = loop(FakeConsumer([[message()]]), handler, backoff=0.001, backoff_max=0.003)
    subject._stop = RecordingEvent(waits)
    subject.run()
    assert waits == [0.001, 0.002, 0.003, 0.003]


class RecordingEvent:
    def __init__(self, waits: list[float]) -> None:
        self.waits = waits
        self.flag = False

    def wait(self, delay: float) -> bool:
        self.waits.append(delay)
        return False

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True


def test_a_stop_during_a_transient_fault_commits_nothing_and_closes(log):
    consumer = FakeConsumer([[message()], [message(offset=1)]])
    subject = loop(consumer, Handler())

    class StopsWhileDown:
        def handle(self, records):
            subject.stop()
            raise TransientError("db down")

    subject.handler = StopsWhileDown()
    stats = subject.run()
    assert consumer.commits == [] and consumer.closed and subject.stopping
    assert (stats.batches, stats.retries) == (0, 0)
    assert len(consumer.batches) == 1  # the second batch was never polled
    assert warnings(log) == ["current stop requested while db down; batch left uncommitted"]


def test_a_stop_while_the_codec_is_down_commits_nothing():
    consumer = FakeConsumer([[message()]])
    subject = loop(consumer)

    class DownCodec:
        def decode(self, data):
            subject.stop()
            raise TransientError("registry down")

    subject.codec = DownCodec()
    assert subject.run().batches == 0 and consumer.commits == []


def test_a_stop_while_the_dead_letter_topic_is_down_commits_nothing():
    consumer = FakeConsumer([[message(raw=b"x")]])
    subject = loop(consumer)

    class DownProducer(FakeProducer):
        def flush(self, timeout: float) -> int:
            subject.stop()
            return 1

    subject.dead_letters.producer = DownProducer()
    assert subject.run().batches == 0 and consumer.commits == []


class RefusesPoison:
    """A handler that fails, not transiently, on any batch holding a record marked ``poison``: like
    a repository whose bulk write the database refuses whole for one bad document. It records the
    offsets of every call and of every batch it persisted."""

    def __init__(self, transient_once_at: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.persisted: list[list[int]] = []
        self.transient_once_at = transient_once_at

    def handle(self, records) -> None:
        offsets = [record.offset for record in records]
        self.calls.append(offsets)
        if len(self.calls) == self.transient_once_at:
            raise AutoReconnect("mongo:27017 refused")
        for record in records:
            if record.value.get("poison"):
                raise ValueError(f"cannot store offset {record.offset}")
        self.persisted.append(offsets)


def test_records_the_handler_refuses_alone_are_dead_lettered_and_the_rest_persisted_in_order(log):
    batch = [message({"identifier": "EX1", "timestamp": n, "poison": n in (2, 7)}, offset=n) for n in range(10)]
    consumer, producer, handler = FakeConsumer([batch]), FakeProducer(), RefusesPoison()
    subject = loop(consumer, producer=producer)
    subject.handler = handler
    stats = subject.run()
    persisted = [offset for call in handler.persisted for offset in call]
    assert persisted == [0, 1, 3, 4, 5, 6, 8, 9]  # each once, in the batch's order
    assert [(p["headers"]["dlq.origin.offset"], p["headers"]["dlq.error"]) for p in producer.produced] == [
        (b"2", b"handler: ValueError: cannot store offset 2"),
        (b"7", b"handler: ValueError: cannot store offset 7"),
    ]
    assert producer.produced[0]["value"] == batch[2].value()  # the original bytes
    assert committed(consumer) == [[("telemetry", 0, 10)]]
    assert (stats.processed, stats.dead_lettered) == (8, 2)
    # Halving: the whole, halves of 5, then down to the two culprits; not one call per record.
    assert len(handler.calls) <= 2 * 2 * 4 + 1
    assert "current handler refused telemetry[0]@2, dead-lettering it: ValueError: cannot store offset 2" in (
        log.messages
    )


def test_a_transient_fault_while_isolating_a_record_is_retried_not_dead_lettered():
    batch = [message({"identifier": "EX1", "timestamp": n, "poison": n == 3}, offset=n) for n in range(4)]
    producer, handler = FakeProducer(), RefusesPoison(transient_once_at=2)  # the first half's first try
    subject = loop(FakeConsumer([batch]), producer=producer)
    subject.handler = handler
    stats = subject.run()
    assert handler.calls[1] == handler.calls[2] == [0, 1]  # retried after the transient fault
    assert [p["headers"]["dlq.origin.offset"] for p in producer.produced] == [b"3"]
    assert (stats.retries, stats.processed, stats.dead_lettered) == (1, 3, 1)


def test_a_handler_that_fails_on_every_record_dead_letters_each_and_the_partition_moves_on():
    # A bug, not the data: still no crash and no wedge. Each message is dead-lettered with the
    # error, and can be replayed from the dead-letter topic once the bug is fixed.
    consumer, producer = FakeConsumer([[message(offset=0), message(offset=1)]]), FakeProducer()
    stats = loop(consumer, Handler(failures=[ZeroDivisionError("division by zero")] * 3), producer).run()
    assert [p["headers"]["dlq.error"] for p in producer.produced] == [
        b"handler: ZeroDivisionError: division by zero"
    ] * 2
    assert committed(consumer) == [[("telemetry", 0, 2)]] and consumer.closed
    assert (stats.processed, stats.dead_lettered) == (0, 2)


def test_any_exception_while_decoding_or_validating_dead_letters_that_message_only():
    class DeepCodec(JsonCodec):
        def decode(self, data):
            if data == b"deep":
                raise RecursionError("maximum recursion depth exceeded")
            return super().decode(data)

    def overflowing(record: dict) -> list[str]:
        if record.get("km") is not None:
            raise OverflowError("int too large to convert to float")
        return []

    batch = [message(raw=b"deep", offset=0), message({"identifier": "EX1", "km": 10**400}, offset=1), message(offset=2)]
    consumer, handler, producer = FakeConsumer([batch]), Handler(), FakeProducer()
    subject = loop(consumer, handler, producer, validator=overflowing)
    subject.codec = DeepCodec()
    stats = subject.run()
    assert [p["headers"]["dlq.error"] for p in producer.produced] == [
        b"decode: RecursionError: maximum recursion depth exceeded",
        b"validation: OverflowError: int too large to convert to float",
    ]
    assert [record.offset for record in handler.batches[0]] == [2]
    assert committed(consumer) == [[("telemetry", 0, 3)]] and stats.dead_lettered == 2


def test_kafka_errors_fatal_stops_the_loop_others_are_skipped(log):
    noise = FakeMessage(None, _error=FakeError("partition EOF"))
    consumer, handler = FakeConsumer([[noise, message(offset=3)]]), Handler()
    loop(consumer, handler).run()
    assert [r.offset for r in handler.batches[0]] == [3]
    assert warnings(log) == ["current kafka: partition EOF"]
    fatal = FakeConsumer([[FakeMessage(None, _error=FakeError("fenced", is_fatal=True))]])
    with pytest.raises(RuntimeError, match="fatal Kafka error: fenced"):
        loop(fatal).run()
    assert fatal.closed


def test_max_messages_caps_every_poll_and_ends_the_loop():
    consumer = FakeConsumer([[message(offset=0), message(offset=1)], [message(offset=2)], [message(offset=9)]])
    stats = loop(consumer, batch_size=2, max_messages=3, idle_timeout=None).run()
    assert consumer.asked == [2, 1] and stats.messages == 3


def test_a_consumer_with_partitions_and_nothing_to_read_stops_once_idle_for_the_timeout(log):
    consumer = FakeConsumer([])
    started = time.monotonic()
    stats = loop(consumer, idle_timeout=0.2).run()
    assert time.monotonic() - started >= 0.2 and len(consumer.asked) > 1
    assert stats.batches == 0 and consumer.closed
    assert log.messages[-1] == "current idle for 0.2s, stopping"


def test_every_batch_restarts_the_idle_time():
    # Six batches 200 ms apart, an empty poll, then one more batch: the loop is never idle for
    # more than about 400 ms on end, although 1.2 s have passed since it started when the empty
    # poll comes. The 1 s timeout leaves 600 ms for a loaded machine to stall.
    batches = [[message(offset=n)] for n in range(6)] + [[], [message(offset=6)]]
    consumer, handler = FakeConsumer([]), Handler()

    def consume(limit: int, timeout: float) -> list[FakeMessage]:
        time.sleep(0.2)
        return batches.pop(0) if batches else []

    consumer.consume = consume
    loop(consumer, handler, idle_timeout=1.0).run()
    assert [record.offset for batch in handler.batches for record in batch] == list(range(7))


def test_idle_time_counts_only_once_partitions_are_assigned():
    joining = FakeConsumer([], assigned=False)
    polls: list[tuple[float, bool]] = []
    assigned_at = []

    def consume(limit: int, timeout: float) -> list[FakeMessage]:
        polls.append((timeout, joining.assigned))
        time.sleep(0.002)  # 50 polls take 0.1 s, twice the idle timeout, before the assignment
        if len(polls) == 50:
            joining.assigned = True
            assigned_at.append(time.monotonic())
        return []

    joining.consume = consume
    loop(joining, idle_timeout=0.05, batch_wait=0.25).run()
    assert len(polls) > 50 and all(timeout == 0.25 for timeout, _ in polls)
    # Idle from the assignment on (to within the 2 ms poll before it), not from the start.
    assert time.monotonic() - assigned_at[0] >= 0.045


def test_idle_time_goes_on_when_a_rebalance_takes_the_partitions_away():
    """Assigned, one batch, then no partitions (a rebalance that leaves this member without any):
    the idle timeout still ends the loop, counted from the last batch."""
    member = FakeConsumer([], assigned=True)
    handler = Handler()
    batches = [[message(offset=0)]]

    def consume(limit: int, timeout: float) -> list[FakeMessage]:
        if not batches:
            member.assigned = False
            empty_polls.append(time.monotonic())
            time.sleep(timeout)
            if len(empty_polls) == 300:  # 3 s: the idle timeout did not end the loop; stop it
                subject.stop()
            return []
        return batches.pop(0)

    empty_polls: list[float] = []
    member.consume = consume
    subject = loop(member, handler, idle_timeout=0.2, batch_wait=0.01)
    subject.run()
    assert [len(batch) for batch in handler.batches] == [1]
    # Stopped by the idle timeout (about 20 polls of 10 ms), not at once and not by the guard.
    assert 5 <= len(empty_polls) < 300


def test_a_failed_commit_leaves_the_offsets_to_the_next_owner_and_the_loop_goes_on(log):
    consumer = FakeConsumer([[message(offset=0)], [message(offset=1)]])
    consumer.commit_error = KafkaException(KafkaError(KafkaError._ASSIGNMENT_LOST))
    stats = loop(consumer).run()
    assert stats.batches == 2 and stats.committed == {}
    refused = f"current commit failed, batch will be replayed by the partition's owner: {consumer.commit_error}"
    assert "ASSIGNMENT_LOST" in refused and warnings(log) == [refused, refused]


def test_each_batch_is_reported_and_a_failing_report_changes_nothing(log):
    reports = []
    batch = [message({"identifier": "EX1", "timestamp": 11}, offset=0), message(raw=b"x", offset=1, key=b"EX\xff")]
    before = now_ms()
    loop(FakeConsumer([batch]), on_batch=reports.append).run()
    after = now_ms()
    (report,) = reports
    assert (report.service, report.messages, report.processed, report.dead_lettered) == ("current", 2, 1, 1)
    assert (report.last_topic, report.last_partition, report.last_offset) == ("telemetry", 0, 1)
    assert report.last_key == "EX\ufffd" and report.last_event_at == 11
    assert before <= report.committed_at <= after and report.duration_ms >= 0  # epoch milliseconds

    def broken(_report):
        raise OSError("disk full")

    assert loop(FakeConsumer([[message()]]), on_batch=broken).run().batches == 1
    assert warnings(log) == ["current could not record progress: disk full"]
    keyless = []
    loop(FakeConsumer([[message(raw=b"x", key=None)]]), on_batch=keyless.append).run()
    assert keyless[0].last_key is None and keyless[0].last_event_at is None


def test_a_dead_letter_larger_than_the_limit_is_cut_to_a_prefix_with_the_size_and_hash_of_the_whole():
    value, key = bytes(range(256)) * 200, b"K" * 1000  # 51,200 bytes and a 1,000-byte key
    producer = FakeProducer()
    sink = DeadLetterSink(producer, "dl", "current", max_bytes=10_000)
    sink.send([(FakeMessage(value, key, "telemetry", 3, 42), "validation: too long")])
    (letter,) = producer.produced
    assert letter["value"] == value[:1024] and letter["key"] == key[:256]
    headers = letter["headers"]
    assert headers["dlq.value.cut"] == b"true"
    assert headers["dlq.value.size"] == b"51200" and headers["dlq.value.sha256"] == sha256(value).hexdigest().encode()
    assert headers["dlq.key.size"] == b"1000" and headers["dlq.key.sha256"] == sha256(key).hexdigest().encode()
    assert (headers["dlq.origin.partition"], headers["dlq.origin.offset"]) == (b"3", b"42")
    assert headers["dlq.error"] == b"validation: too long"
    # Just under the limit (with the error and header allowance), a letter goes whole.
    whole = FakeProducer()
    DeadLetterSink(whole, "dl", "current", max_bytes=10_000).send([(message(raw=b"x" * 5000), "bad")])
    assert whole.produced[0]["value"] == b"x" * 5000 and "dlq.value.cut" not in whole.produced[0]["headers"]


def test_a_dead_letter_the_broker_or_the_client_refuses_as_too_large_is_sent_again_cut():
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    broker = FakeProducer(refuse=lambda letter: too_large if len(letter["value"]) > 4000 else None)
    DeadLetterSink(broker, "dl", "s").send([(message(raw=b"y" * 6000, offset=1), "bad"), (message(offset=2), "bad")])
    sizes = [
        (p["headers"]["dlq.origin.offset"], len(p["value"]), "dlq.value.cut" in p["headers"]) for p in broker.produced
    ]
    assert sizes == [(b"1", 6000, False), (b"2", 37, False), (b"1", 1024, True)]
    client = FakeProducer(max_bytes=4000)  # librdkafka refuses in produce() itself
    DeadLetterSink(client, "dl", "s").send([(message(raw=b"z" * 6000), "bad")])
    assert [len(p["value"]) for p in client.produced] == [1024]
    # Any other refusal is a broker fault: transient, retried by the loop.
    denied = FakeProducer(refuse=lambda letter: KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(TransientError, match="TOPIC_AUTHORIZATION_FAILED"):
        DeadLetterSink(denied, "dl", "s").send([(message(), "bad")])


def test_a_batch_retried_for_one_failed_dead_letter_does_not_publish_the_others_again():
    attempts: dict[bytes, int] = {}

    def first_try_of_offset_1_fails(letter: dict) -> object:
        offset = letter["headers"]["dlq.origin.offset"]
        attempts[offset] = attempts.get(offset, 0) + 1
        return "broker timed out" if offset == b"1" and attempts[offset] == 1 else None

    producer = FakeProducer(refuse=first_try_of_offset_1_fails)
    batch = [message(raw=b"bad", offset=n) for n in range(3)] + [message(offset=3)]
    consumer = FakeConsumer([batch])
    stats = loop(consumer, producer=producer).run()
    assert [p["headers"]["dlq.origin.offset"] for p in producer.produced] == [b"0", b"1", b"2", b"1"]
    assert attempts == {b"0": 1, b"1": 2, b"2": 1}  # each delivered exactly once
    assert stats.retries == 1 and stats.dead_lettered == 3 and committed(consumer) == [[("telemetry", 0, 4)]]


def test_the_issue_s_wedge_a_two_megabyte_message_among_bad_ones_is_dead_lettered_once_each():
    """A 2 MB message the broker refuses to take as a dead letter, among eleven other bad ones, used
    to be retried every 30 s forever with all twelve sent again each time (85 letters in 80 s)."""
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    producer = FakeProducer(refuse=lambda letter: too_large if len(letter["value"]) > 1_000_000 else None)
    huge = json.dumps({"identifier": "EX1", "address": "a" * 2_000_000}).encode()
    batch = [message(raw=b"bad %d" % n, offset=n) for n in range(11)] + [message(raw=huge, offset=11)]
    consumer = FakeConsumer([batch])
    subject = loop(consumer, producer=producer, validator=lambda r: ["address too long"] if "address" in r else [])
    subject.dead_letters.max_bytes = 10_000_000  # larger than the broker takes: the broker's refusal cuts it
    stats = subject.run()
    delivered = [p for p in producer.produced if len(p["value"]) <= 1_000_000]
    assert sorted(int(p["headers"]["dlq.origin.offset"]) for p in delivered) == list(range(12))
    assert len(producer.produced) == 13  # the twelve, and the huge one once more, cut
    assert stats.retries == 0 and committed(consumer) == [[("telemetry", 0, 12)]]


def test_dead_letter_sink_fails_transiently_on_undelivered_or_errored_messages():
    with pytest.raises(TransientError, match="1 undelivered"):
        DeadLetterSink(FakeProducer(undelivered=1), "dl", "s").send([(message(), "bad")])
    with pytest.raises(TransientError, match="broker said no"):
        DeadLetterSink(FakeProducer(delivery_error="broker said no"), "dl", "s").send([(message(), "bad")])
    # A whole batch refused: the error quotes the first three delivery errors, not all of them.
    refused = DeadLetterSink(FakeProducer(delivery_error="broker said no"), "dl", "s")
    with pytest.raises(TransientError) as failed:
        refused.send([(message(offset=n), "bad") for n in range(5)])
    assert str(failed.value) == f"dead-letter topic 'dl': 0 undelivered, errors {['broker said no'] * 3}"
    idle = FakeProducer()
    DeadLetterSink(idle, "dl", "s").send([])
    assert idle.produced == [] and idle.flushes == []
    DeadLetterSink(idle, "dl", "s", timeout=2.5).close()
    DeadLetterSink(idle, "dl", "s").close()  # services.build_consumer_loop relies on the default
    assert idle.flushes == [2.5, 10.0]


def test_what_counts_as_transient():
    assert is_transient(TransientError("x"))
    assert is_transient(AutoReconnect("x"))
    assert is_transient(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert is_transient(KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT, retriable=True)))
    assert not is_transient(KafkaException(KafkaError(KafkaError._FATAL, fatal=True)))
    # A fatal error leaves the client unusable: retrying would spin forever, whatever else it says.
    assert not is_transient(KafkaException(KafkaError(KafkaError._FATAL, fatal=True, retriable=True)))
    assert not is_transient(KafkaException())
    assert not is_transient(ValueError("x"))


# --- what the loop tells operators: stats over batches, progress reports, log lines -----------------


def test_the_stats_add_up_over_batches():
    first = [message(offset=0), message(raw=b"x", offset=1)]
    second = [message(offset=2), message(raw=b"y", offset=3), message(offset=4)]
    stats = loop(FakeConsumer([first, second])).run()
    assert (stats.batches, stats.messages, stats.processed, stats.dead_lettered) == (2, 5, 3, 2)
    assert stats.committed == {("telemetry", 0): 5}


def test_the_reported_duration_is_the_time_the_batch_took_in_milliseconds_to_a_tenth(caplog):
    caplog.set_level(logging.WARNING, logger="telemetry.consumer")  # no INFO line inside the measured span
    batches = [[message(offset=n)] for n in range(6)]
    polled_at: list[float] = []
    handled: list[float] = []
    reports: list[tuple[object, float]] = []
    consumer = FakeConsumer([])

    def consume(limit: int, timeout: float) -> list[FakeMessage]:
        polled_at.append(time.monotonic())  # the batch's processing starts after this
        return batches.pop(0) if batches else []

    class TimedHandler:
        def handle(self, records) -> None:
            started = time.monotonic()
            time.sleep(0.4 if records[0].offset == 0 else 0.0)  # 0.1 % of it is 0.4 ms
            handled.append(time.monotonic() - started)

    consumer.consume = consume
    subject = loop(consumer, on_batch=lambda report: reports.append((report, time.monotonic())))
    subject.handler = TimedHandler()
    subject.run()
    assert len(reports) == 6
    for n, (report, reported_at) in enumerate(reports):
        # Between the handler's own time and the time from the poll to the report, rounded to 0.1 ms.
        assert handled[n] * 1000 - 0.05 <= report.duration_ms <= (reported_at - polled_at[n]) * 1000 + 0.05
        assert type(report.duration_ms) is float and round(report.duration_ms, 1) == report.duration_ms


def test_a_dead_letter_carries_its_service_origin_and_failure_time_and_goes_to_the_sink_s_topic():
    producer = FakeProducer()
    before = now_ms()
    DeadLetterSink(producer, "dl", "current").send([(FakeMessage(b"v", b"k", "telemetry.raw", 2, 7), "bad")])
    after = now_ms()
    (letter,) = producer.produced
    assert letter["topic"] == "dl" and (letter["value"], letter["key"]) == (b"v", b"k")
    headers = letter["headers"]
    assert set(headers) == {
        "dlq.error",
        "dlq.service",
        "dlq.origin.topic",
        "dlq.origin.partition",
        "dlq.origin.offset",
        "dlq.failed_at",
    }
    assert (headers["dlq.service"], headers["dlq.origin.topic"]) == (b"current", b"telemetry.raw")
    assert before <= int(headers["dlq.failed_at"]) <= after  # milliseconds since the epoch


def test_a_reason_with_a_lone_surrogate_is_encoded_with_a_replacement_character():
    producer = FakeProducer()
    DeadLetterSink(producer, "dl", "s").send([(message(), "validation: EX\udcff unknown")])
    assert producer.produced[0]["headers"]["dlq.error"] == b"validation: EX? unknown"


def test_a_cut_dead_letter_without_a_value_or_key_keeps_none_and_hashes_the_empty_value():
    producer = FakeProducer()
    DeadLetterSink(producer, "dl", "s", max_bytes=0).send([(FakeMessage(None, None, "telemetry", 0, 1), "bad")])
    (letter,) = producer.produced
    assert (letter["value"], letter["key"]) == (None, None)
    headers = letter["headers"]
    assert headers["dlq.value.cut"] == b"true" and headers["dlq.value.size"] == b"0"
    assert headers["dlq.value.sha256"] == sha256(b"").hexdigest().encode()
    assert "dlq.key.size" not in headers
    empty = FakeProducer()
    DeadLetterSink(empty, "dl", "s", max_bytes=0).send([(FakeMessage(b"", None, "telemetry", 0, 1), "bad")])
    assert empty.produced[0]["value"] == b""
    assert empty.produced[0]["headers"]["dlq.value.sha256"] == sha256(b"").hexdigest().encode()


def test_a_key_of_exactly_the_prefix_length_is_kept_whole_in_a_cut_letter():
    producer = FakeProducer()
    key = b"K" * 256
    DeadLetterSink(producer, "dl", "s", max_bytes=0).send([(FakeMessage(b"v" * 2000, key, "telemetry", 0, 1), "bad")])
    (letter,) = producer.produced
    assert letter["key"] == key and letter["value"] == b"v" * 1024
    assert "dlq.key.size" not in letter["headers"] and "dlq.key.sha256" not in letter["headers"]


def test_a_letter_is_cut_only_past_max_bytes_counting_value_key_error_and_header_allowance():
    # value + key + 4096 (error) + 512 (other headers) is what is checked against max_bytes.
    def sent(value_bytes: int, **options) -> bool:
        producer = FakeProducer()
        DeadLetterSink(producer, "dl", "s", **options).send([(message(raw=b"x" * value_bytes, key=b"EX1"), "bad")])
        return "dlq.value.cut" in producer.produced[0]["headers"]

    assert not sent(10_000 - 4608 - 3, max_bytes=10_000)
    assert sent(10_000 - 4608 - 3 + 1, max_bytes=10_000)
    # The default limit is 900,000 bytes.
    assert not sent(900_000 - 4608 - 3)
    assert sent(900_000 - 4608 - 3 + 1)


def test_a_letter_without_a_delivery_report_is_not_acknowledged():
    class Silent(FakeProducer):
        def produce(self, topic, value, key, headers=None, on_delivery=None):
            self.produced.append({"topic": topic, "value": value})

    delivered: set = set()
    with pytest.raises(TransientError, match=r"errors \['not acknowledged'\]"):
        DeadLetterSink(Silent(), "dl", "s").send([(message(offset=3), "bad")], delivered)
    assert delivered == set()


def test_a_full_local_queue_is_drained_with_a_bounded_poll_then_the_letter_produced():
    class Full(FakeProducer):
        polls: list = []
        busy: int = 2

        def produce(self, topic, value, key, headers=None, on_delivery=None):
            if self.busy:
                self.busy -= 1
                raise BufferError("queue full")
            super().produce(topic, value, key, headers, on_delivery)

        def poll(self, timeout):
            self.polls = [*self.polls, timeout]
            return 0

    producer = Full()
    DeadLetterSink(producer, "dl", "s").send([(message(), "bad")])
    assert len(producer.produced) == 1
    assert len(producer.polls) == 2 and all(isinstance(t, float) and 0 < t <= 1 for t in producer.polls)


def test_a_kafka_exception_without_arguments_in_produce_is_a_transient_failure():
    class Refusing(FakeProducer):
        def produce(self, topic, value, key, headers=None, on_delivery=None):
            raise KafkaException()

    with pytest.raises(TransientError, match="0 undelivered"):
        DeadLetterSink(Refusing(), "dl", "s").send([(message(), "bad")])


def test_letters_resent_cut_are_flushed_again_with_the_timeout_and_undelivered_ones_fail():
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)

    class SlowSecondFlush(FakeProducer):
        def flush(self, timeout):
            super().flush(timeout)
            return 0 if len(self.flushes) == 1 else 1

    producer = SlowSecondFlush(refuse=lambda letter: too_large if len(letter["value"]) > 4000 else None)
    with pytest.raises(TransientError, match="1 undelivered"):
        DeadLetterSink(producer, "dl", "s", timeout=3.0).send([(message(raw=b"y" * 6000), "bad")])
    assert producer.flushes == [3.0, 3.0]


def test_describe_quotes_a_decode_error_as_is_and_anything_else_with_its_type():
    from stream.consumer import describe

    class Mute(Exception):
        def __str__(self) -> str:
            raise ValueError("Exceeds the limit for integer string conversion")

    assert describe(DecodeError("not JSON: b'x'")) == "not JSON: b'x'"
    assert describe(ValueError("boom")) == "ValueError: boom"
    assert describe(Mute()) == "Mute: (no text)"


def test_halving_and_refusing_are_logged_with_the_service_and_the_reason_cut_to_500_characters(log):
    handler = Handler(failures=[ValueError("boom"), ValueError("x" * 600)])
    loop(FakeConsumer([[message(offset=0), message(offset=1)]]), handler).run()
    assert "current handler failed on 2 records, handling halves: ValueError: boom" in warnings(log)
    (refusal,) = [r.getMessage() for r in log.records if r.levelno == logging.ERROR]
    assert refusal == "current handler refused telemetry[0]@0, dead-lettering it: " + ("ValueError: " + "x" * 600)[:500]
    long = Handler(failures=[ValueError("y" * 600)])
    log.records.clear()
    loop(FakeConsumer([[message(offset=0), message(offset=1)]]), long).run()
    (halving,) = [m for m in warnings(log) if "handling halves" in m]
    assert halving == "current handler failed on 2 records, handling halves: " + ("ValueError: " + "y" * 600)[:500]


def test_a_batch_with_an_undecodable_message_and_a_refused_record_dead_letters_both():
    producer = FakeProducer()
    handler = Handler(failures=[ValueError("bad"), ValueError("bad")])
    batch = [message(raw=b"x", offset=0), message(offset=1), message(offset=2)]
    stats = loop(FakeConsumer([batch]), handler, producer=producer).run()
    assert sorted(p["headers"]["dlq.origin.offset"] for p in producer.produced) == [b"0", b"1"]
    assert (stats.processed, stats.dead_lettered) == (1, 2)


def test_the_json_log_line_s_duration_is_in_milliseconds_to_a_tenth(log, monkeypatch):
    clock = iter(n * 0.0123456 for n in range(1000))
    monkeypatch.setattr("stream.consumer.time.monotonic", lambda: next(clock))
    loop(FakeConsumer([[message(offset=0)]])).run()
    (line,) = [r for r in log.records if hasattr(r, "duration_ms")]
    assert line.duration_ms == round(line.duration_ms, 1) and line.duration_ms > 0


def test_the_loop_stops_once_idle_for_exactly_the_timeout(monkeypatch):
    monkeypatch.setattr("stream.consumer.time.monotonic", lambda: 100.0)
    consumer = FakeConsumer([])
    real_consume = consumer.consume

    def consume(limit: int, timeout: float):
        if len(consumer.asked) >= 3:
            raise AssertionError("still polling after the idle timeout")
        return real_consume(limit, timeout)

    consumer.consume = consume
    loop(consumer, idle_timeout=0.0).run()
    assert consumer.asked == [500] and consumer.closed
