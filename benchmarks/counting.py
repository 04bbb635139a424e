"""A pymongo-like ``Database`` that counts the calls the repositories make.

``CountingDatabase(inner=None)`` records every collection method call and answers with plausible
empty results, so the handlers run unchanged with the database calls *counted instead of executed*
(the consumer-pipeline and memory benchmarks). ``CountingDatabase(inner=<Database>)`` counts and
forwards to a real engine (the round-trip benchmark wraps mongomock-ng this way).

It is plugged in through the registries, like any database::

    TELEMETRY_DATABASES = {"default": {"BACKEND": "benchmarks.counting.counting_database",
                                       "OPTIONS": {"engine": None}}}
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# What each call is, for the round-trip tables. Index management is not per batch.
WRITES = frozenset(
    {
        "bulk_write",
        "insert_many",
        "insert_one",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
    }
)
READS = frozenset({"find", "find_one", "aggregate", "count_documents", "distinct", "estimated_document_count"})
ADMIN = frozenset({"create_index", "create_indexes", "drop_index", "index_information", "list_indexes", "drop"})


@dataclass
class CallCounter:
    """``(collection, method) -> calls``; thread-safe enough for one consumer process."""

    calls: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, collection: str, method: str) -> None:
        with self.lock:
            self.calls[(collection, method)] += 1

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()

    def snapshot(self, kinds: frozenset[str] = WRITES | READS) -> dict[str, int]:
        """``{"collection.method": calls}`` of the given kinds, sorted by name."""
        with self.lock:
            items = [(f"{c}.{m}", n) for (c, m), n in self.calls.items() if m in kinds]
        return dict(sorted(items))

    def total(self, kinds: frozenset[str] = WRITES | READS) -> int:
        return sum(self.snapshot(kinds).values())


class _Result:
    """Stands in for pymongo's write results."""

    acknowledged = True

    def __init__(self, inserted_ids: list[Any] | None = None, count: int = 0) -> None:
        self.inserted_ids = inserted_ids or []
        self.inserted_id = None
        self.matched_count = 0
        self.modified_count = 0
        self.upserted_count = count
        self.upserted_id = None
        self.deleted_count = 0
        self.inserted_count = len(self.inserted_ids)
        self.bulk_api_result: dict[str, Any] = {}


class _EmptyCursor:
    """A cursor with no documents that accepts the usual chained calls."""

    def __iter__(self) -> Iterator[dict]:
        return iter(())

    def sort(self, *args: Any, **kwargs: Any) -> _EmptyCursor:
        return self

    skip = limit = batch_size = hint = max_time_ms = sort

    def close(self) -> None:
        pass


class CountingCollection:
    def __init__(self, name: str, counter: CallCounter, inner: Any = None) -> None:
        self.name = name
        self.counter = counter
        self.inner = inner

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        if self.inner is not None:
            target = getattr(self.inner, method)
            if not callable(target):
                return target

            def forward(*args: Any, **kwargs: Any) -> Any:
                self.counter.add(self.name, method)
                return target(*args, **kwargs)

            return forward
        fake = getattr(self, f"_fake_{method}", None)
        if fake is None:
            raise AttributeError(f"CountingCollection without an engine does not fake {method!r}")

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counter.add(self.name, method)
            return fake(*args, **kwargs)

        return counted

    # -- plausible empty answers of the fake ---------------------------------------------------------

    def _fake_insert_many(self, documents: Iterable[dict], *args: Any, **kwargs: Any) -> _Result:
        return _Result(inserted_ids=[None for _ in documents])

    def _fake_insert_one(self, document: dict, *args: Any, **kwargs: Any) -> _Result:
        return _Result(inserted_ids=[None])

    def _fake_bulk_write(self, operations: Iterable[Any], *args: Any, **kwargs: Any) -> _Result:
        return _Result(count=len(list(operations)))

    def _fake_update_one(self, *args: Any, **kwargs: Any) -> _Result:
        return _Result()

    _fake_update_many = _fake_replace_one = _fake_delete_one = _fake_delete_many = _fake_update_one

    def _fake_find(self, *args: Any, **kwargs: Any) -> _EmptyCursor:
        return _EmptyCursor()

    def _fake_aggregate(self, *args: Any, **kwargs: Any) -> _EmptyCursor:
        return _EmptyCursor()

    def _fake_find_one(self, *args: Any, **kwargs: Any) -> None:
        return None

    _fake_find_one_and_update = _fake_find_one

    def _fake_count_documents(self, *args: Any, **kwargs: Any) -> int:
        return 0

    _fake_estimated_document_count = _fake_count_documents

    def _fake_distinct(self, *args: Any, **kwargs: Any) -> list:
        return []

    def _fake_create_index(self, keys: Any, *args: Any, name: str | None = None, **kwargs: Any) -> str:
        return name or "index"

    def _fake_index_information(self, *args: Any, **kwargs: Any) -> dict:
        return {}

    def _fake_drop_index(self, *args: Any, **kwargs: Any) -> None:
        return None

    _fake_drop = _fake_drop_index


class CountingDatabase:
    """``database[name]`` gives a ``CountingCollection``; everything else goes to the engine, if any."""

    def __init__(self, inner: Any = None, name: str = "c40") -> None:
        self.inner = inner
        self.name = name
        self.counter = CallCounter()
        self._collections: dict[str, CountingCollection] = {}

    def __getitem__(self, name: str) -> CountingCollection:
        collection = self._collections.get(name)
        if collection is None:
            inner = self.inner[name] if self.inner is not None else None
            collection = self._collections[name] = CountingCollection(name, self.counter, inner)
        return collection

    get_collection = __getitem__

    def command(self, *args: Any, **kwargs: Any) -> dict:
        self.counter.add("$cmd", "command")
        return self.inner.command(*args, **kwargs) if self.inner is not None else {"ok": 1.0}

    @property
    def client(self) -> Any:
        return self.inner.client if self.inner is not None else None


def counting_database(engine: str | None = None, name: str = "c40", **options: Any) -> CountingDatabase:
    """Registry BACKEND: counted calls only (``engine=None``), or counted around ``open_database(engine)``."""
    if engine is None:
        return CountingDatabase(None, name)
    from telemetry_site.databases import open_database

    return CountingDatabase(open_database(engine, name, **options), name)


class CountingProducer:
    """A producer that acknowledges every record at once and counts them: publishing is not a
    database round trip, and the round-trip benchmark runs without a broker."""

    def __init__(self) -> None:
        self.produced = 0
        self._pending: list[Any] = []

    def produce(
        self, topic: str, key: bytes | None = None, value: bytes | None = None, on_delivery: Any = None
    ) -> None:
        self.produced += 1
        if on_delivery is not None:
            self._pending.append(on_delivery)

    def poll(self, timeout: float = 0) -> int:
        callbacks, self._pending = self._pending, []
        for callback in callbacks:
            callback(None, None)
        return len(callbacks)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


class CountingKafkaFactory:
    """``TELEMETRY_KAFKA`` backend whose producers are ``CountingProducer``s."""

    def __init__(self, **_options: Any) -> None:
        self.producers: list[CountingProducer] = []

    def producer(self, **_overrides: Any) -> CountingProducer:
        self.producers.append(CountingProducer())
        return self.producers[-1]
