"""A consumer process of the memory and scaling benchmarks: ``python -m benchmarks.worker ...``.

It runs what ``manage.py consume_equipment_telemetry`` runs — ``build_consumer_loop`` from the
settings, ``freeze_startup_objects``, ``loop.run()`` — with the Avro codec on its own ``mock://``
registry and the database calls counted instead of executed (a database in this process would
grow with the data and hide what the consumer itself holds). It prints one JSON line: messages,
when the first batch arrived and the last commit returned (wall clock, to combine processes), and
its resident memory after each batch.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def spawn_command(
    service: str,
    topic: str,
    group: str,
    bootstrap: str,
    registry: str,
    schema_id: int,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> list[str]:
    import sys

    command = [sys.executable, "-m", "benchmarks.worker", service, topic, group, bootstrap, registry, str(schema_id)]
    if max_messages is not None:
        command += ["--max-messages", str(max_messages)]
    if idle_timeout is not None:
        command += ["--idle-timeout", str(idle_timeout)]
    return command


def worker_env(run_dir: str) -> dict[str, str]:
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "telemetry_site.settings",
        "C40_RUN_DIR": run_dir,
        "LOG_LEVEL": "WARNING",
        "MONGO_URI": "mongomock://",
    }


def consume(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings
    from django.test.utils import override_settings

    from benchmarks.common import avro_settings, database_settings, kafka_settings, rss_kib
    from benchmarks.pipeline import TimedConsumer
    from stream.consumer import freeze_startup_objects
    from telemetry_site import backends
    from telemetry_site.services import build_consumer_loop

    services = {
        **settings.TELEMETRY_SERVICES,
        args.service: {**settings.TELEMETRY_SERVICES[args.service], "TOPIC": args.topic, "GROUP_ID": args.group},
    }
    with override_settings(
        **kafka_settings(args.bootstrap),
        **avro_settings(args.registry),
        **database_settings(None, counted=True),
        TELEMETRY_SERVICES=services,
        DEAD_LETTER_TOPIC=f"{args.topic}-deadletter",
        CONSUMER_BATCH_WAIT_SECONDS=0.2,
    ):
        # This process's mock registry is empty: register the schema the producer registered first.
        schema_id = backends.codecs["telemetry"].schema_id()
        if schema_id != args.schema_id:
            raise SystemExit(f"schema id {schema_id} here, {args.schema_id} at the producer")
        loop = build_consumer_loop(args.service, max_messages=args.max_messages, idle_timeout=args.idle_timeout)
        timed = loop.consumer = TimedConsumer(loop.consumer)
        samples: list[tuple[int, int]] = []
        record_progress = loop.on_batch

        def on_batch(report: Any) -> None:
            if record_progress is not None:
                record_progress(report)
            samples.append((loop.stats.messages + report.messages, rss_kib()))

        loop.on_batch = on_batch
        freeze_startup_objects()
        offset = time.time() - time.perf_counter()  # perf_counter readings -> wall clock
        stats = loop.run()
        return {
            "messages": stats.messages,
            "processed": stats.processed,
            "dead_lettered": stats.dead_lettered,
            "first_message_at": None if timed.first_message_at is None else timed.first_message_at + offset,
            "last_commit_at": None if timed.last_commit_at is None else timed.last_commit_at + offset,
            "rss_kib": samples,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("service", "topic", "group", "bootstrap", "registry"):
        parser.add_argument(name)
    parser.add_argument("schema_id", type=int)
    parser.add_argument("--max-messages", type=int, default=None)
    parser.add_argument("--idle-timeout", type=float, default=None)
    args = parser.parse_args(argv)
    from benchmarks.common import setup_django

    setup_django()
    print(json.dumps(consume(args)), flush=True)


if __name__ == "__main__":
    main()
