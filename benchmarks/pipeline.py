"""Benchmark 2: the consumer pipeline of every telemetry service, on the real broker.

Messages per second from poll to commit through ``build_consumer_loop`` (decode, validate, handle,
commit, progress record), for every service in ``TELEMETRY_SERVICES`` whose codec is ``telemetry``:
once with the database calls counted instead of executed (``benchmarks.counting``), once with the
real repositories on the in-process engine (mongomock-ng, at most ``IN_PROCESS_MESSAGES`` messages;
the server at ``MONGO_URI`` when set, all of them).
Reference, same run, same topic: a raw confluent-kafka consumer that decodes each message with
``fastavro.schemaless_reader`` and a cached parsed schema, and commits nothing. Target: with counted
database calls, at least 0.4x the reference for every service.

The clock of each run starts when the first batch arrives (joining the group takes seconds on any
broker and is not throughput) and stops after the last commit (the reference: after the last decode).

    python -m benchmarks.pipeline [--messages 20000] [--partitions 4] [--batch-size 500] [--repeats 2]
                                  [--counted-only] [--profile] [--services usage,history]
                                  [--metrics-cost]

``--metrics-cost`` measures instead what the Prometheus metrics cost the loop: counted runs with
``METRICS_ENABLED`` on and off, alternating, ``--repeats`` pairs per service; the figure is the
median rate with metrics over the median without (target: >= 0.97x), every run's rate in the note
so the noise shows (docs/OPERATIONS.md).
"""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

from benchmarks.common import (
    Result,
    avro_settings,
    command_line,
    database_settings,
    embedded_broker,
    emit,
    fleet_records,
    kafka_settings,
    produce_encoded,
    telemetry_services,
)
from benchmarks.roundtrips import engine_uri

NAME = "pipeline"
TARGET = 0.4
METRICS_TARGET = 0.97  # metrics may cost at most 3 % of the loop's throughput
# The in-process engine's cost grows with its collections (no index is used: every insert checks the
# unique index by scanning, every aggregation walks the whole ledger), so usage took minutes for
# 4,000 messages and hours for 20,000. Its runs stop at this many messages; a real server runs all.
IN_PROCESS_MESSAGES = 2_000


class TimedConsumer:
    """A confluent-kafka consumer that notes when the first message arrived and the last commit returned."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self.first_message_at: float | None = None
        self.last_commit_at: float | None = None
        # CPU time of the loop's own thread over the same span: what a busy machine inflates least.
        self.first_message_cpu = self.last_commit_cpu = 0.0

    def consume(self, *args: Any, **kwargs: Any) -> list[Any]:
        messages = self._consumer.consume(*args, **kwargs)
        if messages and self.first_message_at is None:
            self.first_message_at = time.perf_counter()
            self.first_message_cpu = time.thread_time()
        return messages

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        result = self._consumer.commit(*args, **kwargs)
        self.last_commit_at = time.perf_counter()
        self.last_commit_cpu = time.thread_time()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)

    @property
    def seconds(self) -> float:
        if self.first_message_at is None or self.last_commit_at is None:
            raise RuntimeError("the consumer received or committed nothing")
        return self.last_commit_at - self.first_message_at


def reference_rate(factory: Any, topic: str, messages: int, batch_size: int) -> float:
    """Raw consume + fastavro decode of ``messages`` messages of ``topic``, msg/s."""
    import fastavro
    from confluent_kafka import Consumer

    from stream.codecs import load_schema, strip_logical_types

    parsed = fastavro.parse_schema(strip_logical_types(load_schema("c40_enriched.avsc")))
    reader = fastavro.schemaless_reader
    consumer = Consumer(factory.consumer_config(f"bench-reference-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    count, first = 0, None
    deadline = time.monotonic() + 120 + messages / 1000
    try:
        while count < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reference consumer got {count} of {messages} messages")
            batch = consumer.consume(batch_size, timeout=0.2)
            if batch and first is None:
                first = time.perf_counter()
            for message in batch:
                if message.error() is not None:
                    continue
                payload = io.BytesIO(message.value())
                payload.seek(5)
                reader(payload, parsed, None)
                count += 1
        return count / (time.perf_counter() - first)
    finally:
        consumer.close()


def pipeline_rate(
    service: str, topic: str, messages: int, engine: str, profile: bool = False, metrics: bool = True
) -> tuple[float, str, float]:
    """Run the service's real loop over ``messages`` messages of ``topic``; msg/s, a profile (or "")
    and the loop thread's CPU µs per message. ``metrics``: whether the loop keeps its Prometheus
    metrics (``METRICS_ENABLED``)."""
    from django.conf import settings
    from django.test.utils import override_settings

    from stream.consumer import freeze_startup_objects
    from telemetry_site import backends
    from telemetry_site.services import build_consumer_loop

    services = {
        **settings.TELEMETRY_SERVICES,
        service: {
            **settings.TELEMETRY_SERVICES[service],
            "TOPIC": topic,
            "GROUP_ID": f"bench-{service}-{uuid.uuid4().hex[:8]}",
        },
    }
    databases = database_settings(None if engine == "counted" else engine, counted=engine == "counted")
    with override_settings(TELEMETRY_SERVICES=services, METRICS_ENABLED=metrics, **databases):
        database = backends.databases["default"]
        try:
            loop = build_consumer_loop(service, max_messages=messages)
            timed = loop.consumer = TimedConsumer(loop.consumer)
            freeze_startup_objects()  # as the consume_* commands do before they run the loop
            profiler = None
            if profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
            stats = loop.run()
            report = ""
            if profiler is not None:
                profiler.stop()
                report = profiler.output_text(unicode=False, color=False)
            if stats.processed != messages:
                raise AssertionError(f"{service} processed {stats.processed} of {messages} messages: {stats}")
            cpu_per_message = (timed.last_commit_cpu - timed.first_message_cpu) / messages * 1e6
            return messages / timed.seconds, report, cpu_per_message
        finally:
            client = getattr(database, "client", None)
            if client is not None:
                client.drop_database(database.name)


def metrics_cost(factory: Any, topic: str, service: str, messages: int, repeats: int, note: str) -> list[Result]:
    """Counted runs with and without metrics, alternating so that a busy moment hits both sides:
    the median rate of each, and the median CPU time of the loop's thread per message."""
    import statistics

    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for i in range(max(1, repeats)):
        for metrics in (True, False) if i % 2 == 0 else (False, True):
            rate, _, cpu_per_message = pipeline_rate(service, topic, messages, "counted", metrics=metrics)
            rates[metrics].append(rate)
            cpu[metrics].append(cpu_per_message)
    with_metrics, without = statistics.median(rates[True]), statistics.median(rates[False])
    cpu_with, cpu_without = statistics.median(cpu[True]), statistics.median(cpu[False])

    def runs(figures: dict[bool, list[float]], form: str) -> str:
        return "; ".join(
            f"{'on' if m else 'off'}: " + ", ".join(form.format(f) for f in figures[m]) for m in (True, False)
        )

    return [
        Result(
            NAME,
            f"{service}, metrics on vs off (db calls counted)",
            with_metrics,
            "msg/s",
            "the same loop, METRICS_ENABLED=0",
            without,
            f">= {METRICS_TARGET}x",
            with_metrics / without >= METRICS_TARGET,
            note=f"{note}, median of {len(rates[True])}; runs {runs(rates, '{:,.0f}')}",
        ),
        Result(
            NAME,
            f"{service}, loop thread CPU per message, metrics on vs off",
            cpu_with,
            "µs",
            "the same loop, METRICS_ENABLED=0",
            cpu_without,
            note=f"median of {len(cpu[True])}; runs {runs(cpu, '{:.1f}')}",
        ),
    ]


def observer_cost(batch_size: int, partitions: int, batches: int = 1000) -> Result:
    """CPU time of the metrics observer alone per batch of ``batch_size`` messages over ``partitions``
    partitions (``process_time``: the loop's own time in it, whatever else the machine runs), on the
    client's own ``Message`` objects."""
    from confluent_kafka import Message, TopicPartition

    from stream.consumer import ConsumerLoop, LoopStats
    from stream.observers import BatchTrace
    from telemetry_site.metrics import ConsumerMetrics, consumer_families

    assigned = [TopicPartition("bench", p) for p in range(partitions)]

    class Consumer:
        def get_watermark_offsets(self, partition: Any, cached: bool = False) -> tuple[int, int]:
            return 0, 10**9

        def assignment(self) -> list[Any]:
            return assigned

    from prometheus_client import CollectorRegistry

    loop = ConsumerLoop.__new__(ConsumerLoop)  # only what the observer reads: its stats and consumer
    loop.stats, loop.consumer = LoopStats(), Consumer()
    observer = ConsumerMetrics("bench", consumer_families(CollectorRegistry()))
    spent, offset = 0.0, 0
    for _ in range(batches):
        messages = [Message(topic="bench", partition=i % partitions, offset=offset + i) for i in range(batch_size)]
        offset += batch_size
        for partition in range(partitions):
            loop.stats.committed[("bench", partition)] = offset + partition
        trace = BatchTrace(messages, [], 0.0, 0.0, 0.0, 0.0, 0.0)
        started = time.process_time()
        observer.polled(messages)
        observer.batch_done(loop, trace)
        spent += time.process_time() - started
    per_batch = spent / batches * 1e6
    return Result(
        NAME,
        "metrics observer alone, CPU per batch",
        per_batch,
        "µs",
        note=f"{batch_size} msgs over {partitions} partitions, {batches} batches; {per_batch / batch_size:.3f} µs/msg",
    )


def run(
    messages: int = 20_000,
    partitions: int = 4,
    batch_size: int = 500,
    engines: tuple[str, ...] = ("counted", "in-process"),
    profile: bool = False,
    repeats: int = 2,
    services: list[str] | None = None,
    metrics_only: bool = False,
) -> list[Result]:
    from django.test.utils import override_settings

    from devstack.embedded import create_topics
    from telemetry_site import backends

    results: list[Result] = []
    suffix = uuid.uuid4().hex[:8]
    topic, dead_letters = f"bench-telemetry-{suffix}", f"bench-deadletter-{suffix}"
    with (
        embedded_broker() as broker,
        override_settings(
            **kafka_settings(broker.bootstrap_servers),
            **avro_settings(),
            DEAD_LETTER_TOPIC=dead_letters,
            CONSUMER_BATCH_SIZE=batch_size,
            CONSUMER_BATCH_WAIT_SECONDS=0.2,
        ),
    ):
        factory = backends.kafka["default"]
        create_topics(factory.admin(), {topic: partitions, dead_letters: 1})
        codec = backends.codecs["telemetry"]
        payloads = [(r["identifier"].encode(), codec.encode(r)) for r in fleet_records(messages)]
        produce_encoded(factory.producer(), topic, payloads)
        del payloads  # a consumer process holds no such list: let it not weigh on the garbage collector
        engine_names = {"counted": "db calls counted", "in-process": f"real repositories, {engine_uri()}"}
        if metrics_only:
            results.append(observer_cost(batch_size, partitions))
        for service in services or telemetry_services():
            if metrics_only:
                note = f"{messages:,} msgs, {partitions} partitions, batch {batch_size}"
                results += metrics_cost(factory, topic, service, messages, repeats, note)
                continue
            # Reference and counted run alternate, best of ``repeats`` each, so that a busy moment on
            # this shared machine does not land on one side of the ratio only.
            reference = rate = 0.0
            for _ in range(max(1, repeats)):
                reference = max(reference, reference_rate(factory, topic, messages, batch_size))
                counted, report, _ = pipeline_rate(service, topic, messages, "counted", profile)
                rate = max(rate, counted)
                if report:
                    print(f"\n--- pyinstrument profile: {service}, database calls counted ---\n{report}")
                    profile = False
            note = f"{messages:,} msgs, {partitions} partitions, batch {batch_size}"
            results.append(
                Result(
                    NAME,
                    f"{service}, {engine_names['counted']}",
                    rate,
                    "msg/s",
                    "raw consume + fastavro decode",
                    reference,
                    f">= {TARGET}x",
                    rate / reference >= TARGET,
                    note=f"{note}, best of {repeats}",
                )
            )
            if "in-process" in engines:
                uri = engine_uri()
                engine_messages = messages if uri.startswith("mongodb") else min(messages, IN_PROCESS_MESSAGES)
                real, _, _ = pipeline_rate(service, topic, engine_messages, uri)
                results.append(
                    Result(
                        NAME,
                        f"{service}, {engine_names['in-process']}",
                        real,
                        "msg/s",
                        "raw consume + fastavro decode",
                        reference,
                        note=f"{engine_messages:,} msgs, {partitions} partitions, batch {batch_size}",
                    )
                )
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2, help="reference and counted runs, best of each")
    parser.add_argument("--counted-only", action="store_true", help="skip the runs on the real engine")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the first counted run")
    parser.add_argument("--services", default="", help="comma-separated services (default: every telemetry service)")
    parser.add_argument(
        "--metrics-cost", action="store_true", help="only the cost of the metrics: runs with them on and off"
    )
    args = parser.parse_args(argv)
    setup_django()
    engines = ("counted",) if args.counted_only else ("counted", "in-process")
    services = [name for name in args.services.split(",") if name]
    unknown = sorted(set(services) - set(telemetry_services()))
    if unknown:
        known = ", ".join(telemetry_services())
        parser.error(f"--services: not telemetry services: {', '.join(unknown)} (choose from {known})")
    results = run(
        args.messages,
        args.partitions,
        args.batch_size,
        engines,
        args.profile,
        args.repeats,
        services,
        args.metrics_cost,
    )
    emit(results, args.json)


if __name__ == "__main__":
    main()
