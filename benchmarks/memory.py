"""Benchmark 5 (consumer half): resident memory of a consumer process over many messages.

For every telemetry service, a consumer process (``benchmarks.worker``: the command's loop, Avro,
database calls counted) reads ``--messages`` messages; it samples its own resident memory after
every batch. Target: memory flattens — RSS at the end at most 1.10x the RSS after the first quarter
of the messages (start-up and librdkafka's buffers are in place by then). The web half of this
benchmark runs with the API benchmark.

    python -m benchmarks.memory [--messages 200000] [--partitions 4]   (the issue: --messages 1000000)
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid

from benchmarks.common import Result, avro_topic, command_line, emit, telemetry_services
from benchmarks.worker import spawn_command, worker_env

NAME = "memory"
GROWTH_LIMIT = 1.10


def run(messages: int = 200_000, partitions: int = 4) -> list[Result]:
    results = []
    with avro_topic(messages, partitions) as feed:
        for service in telemetry_services():
            command = spawn_command(
                service,
                feed["topic"],
                f"bench-memory-{service}-{uuid.uuid4().hex[:8]}",
                feed["bootstrap"],
                feed["registry"],
                feed["schema_id"],
                max_messages=messages,
            )
            done = subprocess.run(
                command, env=worker_env(tempfile.mkdtemp()), capture_output=True, text=True, timeout=3600
            )
            if done.returncode != 0:
                raise RuntimeError(f"{service} worker failed:\n{done.stderr[-3000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            samples = report["rss_kib"]
            quarter = next(rss for count, rss in samples if count >= messages // 4)
            end = samples[-1][1]
            peak = max(rss for _, rss in samples)
            results.append(
                Result(
                    NAME,
                    f"{service} consumer RSS after {report['messages']:,} msgs",
                    end / 1024,
                    "MiB",
                    f"RSS after {messages // 4:,} msgs",
                    quarter / 1024,
                    f"<= {GROWTH_LIMIT:.2f}x",
                    end / quarter <= GROWTH_LIMIT and report["processed"] == messages,
                    note=f"peak {peak / 1024:.0f} MiB, {len(samples)} batches, db calls counted",
                )
            )
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.messages, args.partitions), args.json)


if __name__ == "__main__":
    main()
