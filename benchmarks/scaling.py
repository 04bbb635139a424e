"""Benchmark 6: throughput with 1, 2 and 4 consumer processes in one group, 12 partitions.

For every telemetry service, ``N`` consumer processes (``benchmarks.worker``: the command's loop,
Avro, database calls counted) of one new group read a 12-partition topic of ``--messages``
messages until it has been idle for a few seconds. Throughput is the topic's messages over the
time from the first batch any process received to the last commit any process made, so group
joins and rebalances after the first batch count. Reference: one process, same run. This machine
has 2 cores (and the broker needs one too): more processes cannot be faster here.

    python -m benchmarks.scaling [--messages 40000] [--processes 1,2,4]
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid

from benchmarks.common import Result, avro_topic, command_line, emit, telemetry_services
from benchmarks.worker import spawn_command, worker_env

NAME = "scaling"
PARTITIONS = 12
IDLE_SECONDS = 8.0


def group_rate(feed: dict, service: str, processes: int, messages: int) -> tuple[float, int]:
    """msg/s of ``processes`` processes in one group, and how many messages were read twice."""
    group = f"bench-scaling-{service}-{processes}-{uuid.uuid4().hex[:8]}"
    command = spawn_command(
        service, feed["topic"], group, feed["bootstrap"], feed["registry"], feed["schema_id"], idle_timeout=IDLE_SECONDS
    )
    env = worker_env(tempfile.mkdtemp())
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=1800)
        if worker.returncode != 0:
            raise RuntimeError(f"{service} worker failed:\n{err[-3000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    read = sum(r["messages"] for r in reports)
    if read < messages:
        raise RuntimeError(f"{processes} {service} processes read {read} of {messages} messages")
    active = [r for r in reports if r["first_message_at"] is not None]
    window = max(r["last_commit_at"] for r in active) - min(r["first_message_at"] for r in active)
    return messages / window, read - messages


def run(messages: int = 40_000, processes: tuple[int, ...] = (1, 2, 4)) -> list[Result]:
    results = []
    cores = os.cpu_count()
    with avro_topic(messages, PARTITIONS) as feed:
        for service in telemetry_services():
            rates = {}
            for count in processes:
                rates[count], replayed = group_rate(feed, service, count, messages)
                results.append(
                    Result(
                        NAME,
                        f"{service}: {count} process{'es' if count > 1 else ''}",
                        rates[count],
                        "msg/s",
                        f"{processes[0]} process{'es' if processes[0] > 1 else ''}",
                        rates[processes[0]],
                        note=f"{messages:,} msgs, {PARTITIONS} partitions, {cores} cores, {replayed} re-read",
                    )
                )
    return results


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import setup_django

    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--processes", default="1,2,4", help="comma-separated process counts")
    args = parser.parse_args(argv)
    setup_django()
    emit(run(args.messages, tuple(int(n) for n in args.processes.split(","))), args.json)


if __name__ == "__main__":
    main()
