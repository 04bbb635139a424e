"""What the consumer loop tells its watchers, kept apart from the loop itself.

``ConsumerLoop`` calls an observer at three points: after every poll, before retrying a transient
fault, and after each batch's commit. The default observes nothing; ``telemetry_site.metrics``
keeps the Prometheus metrics with one (docs/OPERATIONS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class ObservedLoop(Protocol):
    """What an observer may read of the loop (``stream.consumer.ConsumerLoop`` is one): its consumer
    and its stats. A protocol, so that this module does not import the loop that imports it."""

    consumer: Any
    stats: Any


class LoopObserver:
    """What the loop tells its watchers (the Prometheus metrics, ``telemetry_site.metrics``).

    The default observes nothing. Calls are made from the loop's thread; an observer must be cheap
    and must not raise (the loop does not guard these calls: a bug there is a bug in the loop).
    """

    def polled(self, messages: list[Any]) -> None:
        """Every poll, with the messages it returned (often none)."""

    def retried(self, exc: BaseException) -> None:
        """A transient fault about to be retried."""

    def batch_done(self, loop: ObservedLoop, batch: BatchTrace) -> None:
        """A batch was handled, dead-lettered and its commit attempted (``loop.stats.committed``
        holds the offsets whose commit succeeded)."""


@dataclass(frozen=True, slots=True)
class BatchTrace:
    """One batch as the observer sees it: its messages, the dead-lettered ones, and when. Every
    other message was persisted by the handler."""

    messages: list[Any]
    failures: list[tuple[Any, str]]  # (message, reason)
    # time.monotonic() at each step:
    started: float  # the poll returned the batch
    handling: float  # decoded and validated: the handler starts
    handled: float  # the handler returned (after its retries)
    committing: float  # the dead letters were delivered: the commit starts
    committed: float  # the commit returned (or was refused)
