"""A database that fails on demand: the real in-process engine behind a switch (a fake, not a mock).

Plugged in through ``settings.TELEMETRY_DATABASES`` like any backend::

    {"BACKEND": "tests.reliability.faults.open_faulty_database",
     "OPTIONS": {"uri": "mongomock://", "name": "...", "switch": FaultSwitch(every=3)}}

While ``switch.down`` is set, every operation raises ``pymongo.errors.AutoReconnect`` — what pymongo
raises when the server goes away — and ``command("ping")`` too, so ``/ready`` sees it. With
``every=N``, every Nth write raises even while up; ``down_after_writes=K`` takes the database down
on the Kth write, mid-stream.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import AutoReconnect

from telemetry_site.mongo import open_database

WRITES = frozenset(
    {"bulk_write", "insert_many", "insert_one", "update_one", "update_many", "replace_one", "delete_one", "delete_many"}
)


@dataclass
class FaultSwitch:
    every: int = 0
    down_after_writes: int | None = None
    down: bool = False
    writes: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, operation: str) -> None:
        with self.lock:
            if operation in WRITES:
                self.writes += 1
                if self.down_after_writes is not None and self.writes >= self.down_after_writes:
                    self.down, self.down_after_writes = True, None
                if not self.down and self.every and self.writes % self.every == 0:
                    self.failures += 1
                    raise AutoReconnect(f"injected: write {self.writes} lost its connection")
            if self.down:
                self.failures += 1
                raise AutoReconnect(f"injected: database unreachable during {operation}")


class FaultyCollection:
    def __init__(self, collection: Any, switch: FaultSwitch) -> None:
        self._collection = collection
        self._switch = switch

    @property
    def name(self) -> str:
        return self._collection.name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._switch.check(name)
            return attribute(*args, **kwargs)

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
        self.switch.check("command")
        return self._database.command(*args, **kwargs)


def open_faulty_database(uri: str, name: str, switch: FaultSwitch, **options: Any) -> FaultyDatabase:
    return FaultyDatabase(open_database(uri, name, **options), switch)
