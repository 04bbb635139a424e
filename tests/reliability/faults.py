"""A database that fails on demand: the real in-process engine behind a switch (a fake, not a mock).

Plugged in through ``settings.TELEMETRY_DATABASES`` like any backend::

    {"BACKEND": "tests.reliability.faults.open_faulty_database",
     "OPTIONS": {"uri": "mongomock://", "name": "...", "switch": FaultSwitch(every=3)}}

While ``switch.down`` is set, every operation fails the way ``switch.kind`` says (``FAULTS``), and
``command("ping")`` too unless the kind leaves reads alone, so ``/ready`` sees it. The default kind,
``unreachable``, raises ``pymongo.errors.AutoReconnect`` — what pymongo raises when the server goes
away. With ``every=N``, every Nth write raises AutoReconnect even while up; ``down_after_writes=K``
takes the database down on the Kth write, mid-stream.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    WriteConcernError,
)

from telemetry_site.databases import open_database

WRITES = frozenset(
    {"bulk_write", "insert_many", "insert_one", "update_one", "update_many", "replace_one", "delete_one", "delete_many"}
)
BULK_WRITES = frozenset({"bulk_write", "insert_many"})

# What a replica set answers when a majority did not acknowledge in time (a failover, a lagging
# secondary): the write is on the primary and may be rolled back. Shapes as pymongo reports them.
WRITE_CONCERN_TIMEOUT = {
    "code": 64,
    "codeName": "WriteConcernFailed",
    "errmsg": "injected: waiting for replication timed out",
    "errInfo": {"wtimeout": True, "writeConcern": {"w": "majority", "wtimeout": 0, "provenance": "clientSupplied"}},
}
STEPPED_DOWN = {
    "code": 189,
    "codeName": "PrimarySteppedDown",
    "errmsg": "injected: primary stepped down while waiting for replication",
}


def _raise_before(exception: Callable[[str], Exception]) -> Callable[..., Any]:
    def fault(method: Callable[..., Any], operation: str, args: tuple, kwargs: dict) -> Any:
        raise exception(operation)

    return fault


def _write_concern_fault(concern_error: dict, lost_race: bool) -> Callable[..., Any]:
    """The write is applied (all of it, or all but its first operation, which "lost an insert race"
    to another writer), then reported with a write concern error, as a ``BulkWriteError`` for bulk
    writes and a ``WriteConcernError`` for single ones (reads are not faulted: ``READS_ANSWERED``)."""

    def fault(method: Callable[..., Any], operation: str, args: tuple, kwargs: dict) -> Any:
        if operation not in BULK_WRITES:
            method(*args, **kwargs)
            raise WriteConcernError(
                concern_error["errmsg"], concern_error["code"], {"writeConcernError": concern_error}
            )
        items, rest = list(args[0]), args[1:]
        ordered = kwargs.get("ordered", True)
        lost = [0] if lost_race and items else []
        # Ordered bulks stop at their first error: nothing after the lost operation is applied.
        kept = [] if lost and ordered else [index for index in range(len(items)) if index not in lost]
        write_errors = [{"index": index, "code": 11000, "errmsg": "injected: E11000 duplicate key"} for index in lost]
        if kept:
            try:
                method([items[index] for index in kept], *rest, **kwargs)
            except BulkWriteError as exc:  # a replay's own duplicates, reported with their indexes
                write_errors += [{**error, "index": kept[error["index"]]} for error in exc.details["writeErrors"]]
        raise BulkWriteError(
            {
                "writeErrors": sorted(write_errors, key=lambda error: error["index"]),
                "writeConcernErrors": [dict(concern_error)],
                "nInserted": 0,
                "nUpserted": 0,
                "nMatched": 0,
                "nModified": 0,
                "nRemoved": 0,
                "upserted": [],
            }
        )

    return fault


def _reply_lost(method: Callable[..., Any], operation: str, args: tuple, kwargs: dict) -> Any:
    """A network timeout: a write reached the server and was applied, its reply (even an error,
    such as a replay's duplicate keys) never came back."""
    if operation in WRITES:
        with contextlib.suppress(PyMongoError):
            method(*args, **kwargs)
    raise NetworkTimeout(f"injected: timed out waiting for the reply to {operation}")


FAULTS: dict[str, Callable[..., Any]] = {
    "unreachable": _raise_before(lambda op: AutoReconnect(f"injected: database unreachable during {op}")),
    "write_concern": _write_concern_fault(WRITE_CONCERN_TIMEOUT, lost_race=False),
    "write_concern_mixed": _write_concern_fault(STEPPED_DOWN, lost_race=True),
    "execution_timeout": _raise_before(
        lambda op: ExecutionTimeout(
            f"injected: {op} exceeded time limit", 50, {"ok": 0, "code": 50, "codeName": "MaxTimeMSExpired"}
        )
    ),
    "network_timeout": _reply_lost,
    "not_primary": _raise_before(
        lambda op: NotPrimaryError(
            f"injected: not primary during {op}", {"ok": 0, "code": 10107, "codeName": "NotWritablePrimary"}
        )
    ),
}
# Kinds under which the server still answers reads and pings.
READS_ANSWERED = frozenset({"write_concern", "write_concern_mixed"})


@dataclass
class FaultSwitch:
    every: int = 0
    down_after_writes: int | None = None
    down: bool = False
    kind: str = "unreachable"
    faults_left: int | None = None  # while down, fail this many operations, then come back up
    writes: int = 0
    failures: int = 0
    # Writes the "every Nth" rule neither counts nor fails: the loop's progress record is monitoring,
    # deliberately not retried, and a batch of N-1 data writes plus it made every Nth write that
    # record (history since its newest-positions write), so no data write was ever faulted.
    spared: frozenset[str] = frozenset({"consumer_progress"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, operation: str, collection: str = "") -> Callable[..., Any] | None:
        """Count the operation; raise an "every Nth write" fault; return the fault that must handle
        the operation while down (``FAULTS[kind]``), or None to let it through."""
        with self.lock:
            if operation in WRITES and collection not in self.spared:
                self.writes += 1
                if self.down_after_writes is not None and self.writes >= self.down_after_writes:
                    self.down, self.down_after_writes = True, None
                if not self.down and self.every and self.writes % self.every == 0:
                    self.failures += 1
                    raise AutoReconnect(f"injected: write {self.writes} lost its connection")
            if not self.down or (operation not in WRITES and self.kind in READS_ANSWERED):
                return None
            self.failures += 1
            if self.faults_left is not None:
                self.faults_left -= 1
                self.down = self.faults_left > 0
            return FAULTS[self.kind]


class FaultyCollection:
    def __init__(self, collection: Any, switch: FaultSwitch) -> None:
        self._collection = collection
        self._switch = switch

    @property
    def name(self) -> str:
        return self._collection.name

    def with_options(self, *args: Any, **kwargs: Any) -> FaultyCollection:
        """The same collection with another write concern (``/ready``'s majority write) fails alike."""
        return FaultyCollection(self._collection.with_options(*args, **kwargs), self._switch)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            fault = self._switch.check(name, self._collection.name)
            if fault is None:
                return attribute(*args, **kwargs)
            return fault(attribute, name, args, kwargs)

        return guarded


class FaultyDatabase:
    def __init__(self, database: Any, switch: FaultSwitch) -> None:
        self._database = database
        self.switch = switch

    @property
    def client(self) -> Any:
        return self._database.client

    @property
    def name(self) -> str:
        return self._database.name

    def __getitem__(self, name: str) -> FaultyCollection:
        return FaultyCollection(self._database[name], self.switch)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def command(self, *args: Any, **kwargs: Any) -> Any:
        fault = self.switch.check("command")
        command = self._database.command
        return command(*args, **kwargs) if fault is None else fault(command, "command", args, kwargs)


def open_faulty_database(uri: str, name: str, switch: FaultSwitch, **options: Any) -> FaultyDatabase:
    return FaultyDatabase(open_database(uri, name, **options), switch)
