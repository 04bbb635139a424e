"""The Prometheus metrics, in-process: the loop's observer on small fakes of the Kafka clients, the
usage counters, the HTTP middleware and ``/metrics``, structured logs, the settings checks.

Each test reads its own ``CollectorRegistry`` (or the before/after difference of the default one),
so the order of tests changes nothing. ``test_prometheus.py`` scrapes the same metrics from real
processes with the real Prometheus server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from django.core.checks import run_checks
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry
from pymongo.errors import AutoReconnect

from equipment_usage import metrics as usage_metrics
from equipment_usage.repository_documents import ConcurrentCorrection
from stream.codecs import DecodeError, TransientError
from stream.consumer import ConsumerLoop
from stream.dead_letters import DeadLetterSink
from stream.observers import LoopObserver
from telemetry_site import http_metrics, logs, metrics
from tests.properties import property_settings


@dataclass
class Message:
    _value: bytes
    _partition: int
    _offset: int

    def value(self):
        return self._value

    def key(self):
        return b"EX1"

    def topic(self):
        return "telemetry"

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def error(self):
        return None


@dataclass
class Consumer:
    batches: list[list[Message]]
    high: dict[int, int] = field(default_factory=dict)
    commit_error: KafkaException | None = None
    # The partitions assigned while each batch is handled (default: every partition 0-11).
    assignments: list[list[int]] = field(default_factory=list)

    def consume(self, limit, timeout):
        self.assigned = self.assignments.pop(0) if self.assignments else list(range(12))
        return self.batches.pop(0) if self.batches else []

    def assignment(self):
        return [TopicPartition("telemetry", p) for p in getattr(self, "assigned", [0])]

    def commit(self, offsets, asynchronous):
        if self.commit_error is not None:
            raise self.commit_error

    def get_watermark_offsets(self, partition, cached=False):
        assert cached  # never a request to the broker from the loop's thread
        return 0, self.high.get(partition.partition, -1001)

    def close(self):
        pass


class Producer:
    def produce(self, topic, value, key, headers, on_delivery):
        on_delivery(None, None)

    def flush(self, timeout):
        return 0


class Codec:
    def __init__(self):
        self.registry_down = True

    def decode(self, data):
        if b"flaky" in data and self.registry_down:
            self.registry_down = False  # up again for the retry
            raise TransientError("schema registry unreachable for id 1: ConnectionError()")
        if not data.startswith(b"{"):
            raise DecodeError("not JSON")
        return json.loads(data)


class Handler:
    def __init__(self, failures=()):
        self.failures = list(failures)

    def handle(self, records):
        if self.failures:
            raise self.failures.pop(0)


def validator(value):
    return ["timestamp: missing"] if "timestamp" not in value else []


def good(partition, offset):
    return Message(json.dumps({"identifier": "EX1", "timestamp": offset}).encode(), partition, offset)


def run_loop(batches, observer, handler=None, consumer=None):
    consumer = consumer or Consumer(batches)
    loop = ConsumerLoop(
        consumer=consumer,
        codec=Codec(),
        handler=handler or Handler(),
        dead_letters=DeadLetterSink(Producer(), "deadletter", "current"),
        validator=validator,
        batch_size=500,
        batch_wait=0.0,
        idle_timeout=0.0,
        backoff=0.001,
        backoff_max=0.001,
        name="current",
        observer=observer,
    )
    return loop.run()


@pytest.fixture
def registry():
    return CollectorRegistry()


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_consumer_metrics_count_each_partitions_messages_dead_letters_and_commits(registry):
    observer = metrics.ConsumerMetrics("current", metrics.consumer_families(registry))
    first = [good(0, 10), good(0, 11), Message(b"\x00garbage", 0, 12), good(3, 7), Message(b"{}", 3, 8)]
    second = [good(3, 9)]
    consumer = Consumer([first, second], high={0: 20, 3: 10})
    run_loop(None, observer, consumer=consumer)

    current = {"service": "current"}
    assert value(registry, "c40_consumer_messages_consumed_total", **current, partition="0") == 3
    assert value(registry, "c40_consumer_messages_consumed_total", **current, partition="3") == 3
    assert value(registry, "c40_consumer_messages_processed_total", **current, partition="0") == 2
    assert value(registry, "c40_consumer_messages_processed_total", **current, partition="3") == 2
    dead = "c40_consumer_messages_dead_lettered_total"
    assert value(registry, dead, **current, partition="0", reason="decode") == 1
    assert value(registry, dead, **current, partition="3", reason="validation") == 1
    # Every reason class exists at 0 once its partition is seen, so rate() catches the first one.
    assert value(registry, dead, **current, partition="3", reason="handler") == 0
    assert value(registry, "c40_consumer_batches_total", **current) == 2
    for histogram in ("batch", "handler", "commit"):
        assert value(registry, f"c40_consumer_{histogram}_duration_seconds_count", **current) == 2
    assert value(registry, "c40_consumer_batch_duration_seconds_sum", **current) >= value(
        registry, "c40_consumer_handler_duration_seconds_sum", **current
    )
    assert value(registry, "c40_consumer_last_committed_offset", **current, partition="0") == 13
    assert value(registry, "c40_consumer_last_committed_offset", **current, partition="3") == 10
    assert value(registry, "c40_consumer_lag_messages", **current, partition="0") == 7  # 20 - 13
    assert value(registry, "c40_consumer_lag_messages", **current, partition="3") == 0
    assert value(registry, "c40_consumer_last_commit_timestamp_seconds", **current, partition="0") > 1.7e9
    assert value(registry, "c40_consumer_commit_failures_total", **current) == 0


def test_a_failed_commit_is_counted_and_leaves_the_offset_gauges_alone(registry):
    observer = metrics.ConsumerMetrics("history", metrics.consumer_families(registry))
    consumer = Consumer([[good(1, 5)]], commit_error=KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS)))
    run_loop(None, observer, consumer=consumer)
    history = {"service": "history"}
    assert value(registry, "c40_consumer_commit_failures_total", **history) == 1
    assert value(registry, "c40_consumer_last_committed_offset", **history, partition="1") == 0
    assert value(registry, "c40_consumer_last_commit_timestamp_seconds", **history, partition="1") == 0


def test_a_partition_taken_by_a_rebalance_stops_reporting_its_offset_and_lag_and_keeps_its_counts(registry):
    observer = metrics.ConsumerMetrics("current", metrics.consumer_families(registry))
    consumer = Consumer([[good(0, 1), good(1, 1)], [good(0, 2)]], high={0: 9, 1: 9}, assignments=[[0, 1], [0]])
    run_loop(None, observer, consumer=consumer)
    current = {"service": "current"}
    assert value(registry, "c40_consumer_lag_messages", **current, partition="0") == 6
    for gauge in ("lag_messages", "last_committed_offset", "last_commit_timestamp_seconds"):
        assert value(registry, f"c40_consumer_{gauge}", **current, partition="1") is None
    assert value(registry, "c40_consumer_messages_processed_total", **current, partition="1") == 1
    # Back after another rebalance: the counters go on from where they were, the gauges come back.
    run_loop([[good(1, 2)]], observer)
    assert value(registry, "c40_consumer_messages_processed_total", **current, partition="1") == 2
    assert value(registry, "c40_consumer_last_committed_offset", **current, partition="1") == 3


def test_lag_is_left_unset_when_the_consumer_cannot_tell_its_end_offset(registry):
    observer = metrics.ConsumerMetrics("current", metrics.consumer_families(registry))
    run_loop([[good(2, 0)]], observer)  # no high watermark cached (-1001)
    assert value(registry, "c40_consumer_last_committed_offset", service="current", partition="2") == 1
    assert value(registry, "c40_consumer_lag_messages", service="current", partition="2") == 0


def test_retries_are_counted_by_dependency(registry):
    observer = metrics.ConsumerMetrics("usage", metrics.consumer_families(registry))
    handler = Handler([AutoReconnect("mongo:27017 refused"), TransientError("usage topic 'u': 1 undelivered")])
    flaky = Message(b'{"identifier": "EX1", "timestamp": 1, "flaky": true}', 0, 1)
    run_loop([[good(0, 0), flaky]], observer, handler=handler)
    retries = "c40_consumer_transient_retries_total"
    assert value(registry, retries, service="usage", dependency="schema_registry") == 1
    assert value(registry, retries, service="usage", dependency="mongodb") == 1
    assert value(registry, retries, service="usage", dependency="kafka") == 1
    assert value(registry, retries, service="usage", dependency="other") == 0


@pytest.mark.parametrize(
    ("exc", "dependency"),
    [
        (AutoReconnect("refused"), "mongodb"),
        (ConcurrentCorrection("EX1 changed under us"), "mongodb"),
        (KafkaException(KafkaError(KafkaError._TRANSPORT)), "kafka"),
        (TransientError("dead-letter topic 'dlq': 2 undelivered, errors []"), "kafka"),
        (TransientError("usage topic 'u': 1 undelivered, errors []"), "kafka"),
        (TransientError("schema registry unreachable for id 7: ConnectionError()"), "schema_registry"),
        (TransientError("something else"), "other"),
    ],
)
def test_dependency_of_a_transient_fault(exc, dependency):
    assert metrics.dependency_of(exc) == dependency


@property_settings(200)
@given(st.text())
def test_a_dead_letter_reason_always_maps_to_a_bounded_class(reason):
    assert metrics.reason_class(reason) in (*metrics.REASON_CLASSES, metrics.OTHER)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("decode: not JSON", "decode"),
        ("validation: timestamp: missing", "validation"),
        ("Handler: OverflowError: too big", "handler"),
        ("EX1234: a machine's identifier is never a label", "other"),
    ],
)
def test_reason_class(reason, expected):
    assert metrics.reason_class(reason) == expected


def test_no_metrics_observer_when_disabled(settings):
    settings.METRICS_ENABLED = False
    assert type(metrics.consumer_observer("current")) is LoopObserver
    settings.METRICS_ENABLED = True
    assert isinstance(metrics.consumer_observer("current"), metrics.ConsumerMetrics)


def test_usage_counters(registry):
    families = usage_metrics.usage_families(registry)

    @dataclass
    class Outcome:
        inserted: int
        late: int
        too_late: int

    usage_metrics.usage_batch(Outcome(inserted=5, late=2, too_late=1), families)
    usage_metrics.usage_published(
        [{"identifier": "EX1", "retracted": True}, {"identifier": "EX1", "retracted": False}, {"identifier": "EX2"}],
        families,
    )
    assert value(registry, "c40_usage_deltas_total") == 5
    assert value(registry, "c40_usage_late_readings_spliced_total") == 2
    assert value(registry, "c40_usage_late_readings_too_late_total") == 1
    assert value(registry, "c40_usage_records_published_total", kind="delta") == 2
    assert value(registry, "c40_usage_records_published_total", kind="retraction") == 1


def http_count(route, method, status):
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("c40_http_requests_total", labels) or 0


def test_http_requests_are_counted_by_route_pattern_never_by_path(client, settings):
    settings.API_ALLOW_ANONYMOUS_READ = False
    route = "/api/v1/current/<str:identifier>/"
    before = http_count(route, "GET", "401"), http_count("/health", "GET", "200"), http_count("unmatched", "GET", "404")
    assert client.get("/api/v1/current/EX-SECRET-1/").status_code == 401
    assert client.get("/api/v1/current/EX-SECRET-2/").status_code == 401
    assert client.get("/health").status_code == 200
    assert client.get("/no/such/page/42").status_code == 404
    after = http_count(route, "GET", "401"), http_count("/health", "GET", "200"), http_count("unmatched", "GET", "404")
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'c40_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}' in text
    assert "EX-SECRET" not in text
    assert "/no/such/page" not in text


class SlowRegistry(CollectorRegistry):
    """A real registry whose registrations take a while, so that threads asking for the same
    families at once overlap for sure (in a gunicorn worker they overlap by chance)."""

    def register(self, collector):
        time.sleep(0.002)
        super().register(collector)


@pytest.mark.parametrize("build", [http_metrics.http_families, metrics.consumer_families, usage_metrics.usage_families])
def test_fifty_threads_asking_for_fresh_families_at_once_get_one_set_and_no_error(build):
    registry = SlowRegistry()
    start = threading.Barrier(50)

    def first_use(_):
        start.wait()
        return build(registry)

    with ThreadPoolExecutor(50) as pool:
        built = list(pool.map(first_use, range(50)))  # re-raises a "Duplicated timeseries" error
    assert len({id(families) for families in built}) == 1
    assert build(registry) is built[0]
    # Each family registered once: one collector per field of the families' dataclass.
    assert len(set(registry._collector_to_names)) == len(vars(built[0]))


def test_a_metrics_failure_is_logged_once_and_never_turns_a_request_into_a_500(client, settings, caplog):
    """The real middleware stack with the HTTP families broken: every request is answered as if
    metrics did not exist, and the failure is logged the first time only."""

    class BrokenFamilies(CollectorRegistry):
        def register(self, collector):
            raise ValueError("Duplicated timeseries in CollectorRegistry")

    broken = BrokenFamilies()
    settings.MIDDLEWARE = [
        "tests.site.test_metrics.BrokenMetricsMiddleware" if name.endswith("PrometheusMiddleware") else name
        for name in settings.MIDDLEWARE
    ]
    assert "tests.site.test_metrics.BrokenMetricsMiddleware" in settings.MIDDLEWARE
    BrokenMetricsMiddleware.registry = broken
    with caplog.at_level(logging.ERROR, logger="telemetry_site.metrics"):
        statuses = [client.get("/health").status_code for _ in range(3)]
        assert client.get("/no/such/page").status_code == 404
    assert statuses == [200, 200, 200]
    failures = [r for r in caplog.records if r.getMessage().startswith("Could not record the HTTP metrics")]
    assert len(failures) == 1 and "Duplicated timeseries" in caplog.text


class BrokenMetricsMiddleware(http_metrics.PrometheusMiddleware):
    """The production middleware, given HTTP families built on a registry that refuses them."""

    registry = None

    def __init__(self, get_response):
        super().__init__(get_response, families=lambda: http_metrics.http_families(self.registry))


def test_json_logs_carry_the_extra_and_bound_fields_one_object_a_line():
    record = logging.LogRecord("telemetry.consumer", logging.INFO, __file__, 1, "%s batch=%d", ("current", 3), None)
    record.batch = 3
    record.partitions = [0, 4]
    logs.bind(service="current")
    try:
        line = logs.JsonFormatter().format(record)
    finally:
        logs.bind(service=None)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "current batch=3"
    assert (parsed["service"], parsed["batch"], parsed["partitions"]) == ("current", 3, [0, 4])
    assert (parsed["level"], parsed["logger"]) == ("INFO", "telemetry.consumer")
    assert parsed["time"].endswith("+00:00")
    assert "args" not in parsed and "msg" not in parsed


def test_json_logs_of_an_exception_and_an_odd_field():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        record = logging.LogRecord("telemetry", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.odd = {1, 2}
    parsed = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: bad" in parsed["exception"]
    assert parsed["odd"] == "{1, 2}"
    assert "service" not in parsed


def test_the_consumer_loop_writes_json_lines_when_asked(capsys, registry):
    handler = logging.StreamHandler()
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("telemetry.consumer")
    logger.addHandler(handler)
    try:
        run_loop([[good(0, 1), good(5, 2)]], metrics.ConsumerMetrics("current", metrics.consumer_families(registry)))
    finally:
        logger.removeHandler(handler)
    batch = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"batch"' in line]
    assert len(batch) == 1
    assert {k: batch[0][k] for k in ("service", "batch", "partitions", "messages", "processed", "dead_lettered")} == {
        "service": "current",
        "batch": 1,
        "partitions": [0, 5],
        "messages": 2,
        "processed": 2,
        "dead_lettered": 0,
    }
    duration = batch[0]["duration_ms"]
    assert isinstance(duration, float) and duration >= 0 and round(duration, 1) == duration


def test_system_checks_name_a_bad_metrics_port_and_log_format(settings):
    settings.METRICS_PORT = 70000
    settings.LOG_FORMAT = "xml"
    errors = {e.id: e for e in run_checks(tags=["telemetry"])}
    assert "METRICS_PORT" in errors["telemetry.E018"].hint
    assert "'json'" in errors["telemetry.E019"].hint
    settings.METRICS_PORT = 9101
    settings.LOG_FORMAT = "json"
    assert not {"telemetry.E018", "telemetry.E019"} & {e.id for e in run_checks(tags=["telemetry"])}


@pytest.mark.broker
def test_a_consumer_whose_metrics_port_is_taken_stops_with_an_error_naming_the_setting(kafka, mongo_db):
    import socket

    from django.core.management import CommandError, call_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=r"set METRICS_PORT \(or --metrics-port\) to a free port"):
            call_command("consume_equipment_telemetry", "--service", "current", "--metrics-port", str(port))
