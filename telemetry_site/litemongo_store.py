"""litemongo's SQLite store with one set of connections per thread.

litemongo opens one SQLite connection per collection, and Python's sqlite3 refuses to use a
connection in a thread other than the one that created it: under a threaded web server
(``runserver``, a test's live server) the first parallel requests answered 500, and every request
after them too. Here each thread opens its own connections on first use, the way separate
processes already share the store: SQLite serialises the writers, and litemongo notices the commits
of other connections (``PRAGMA data_version``) before it trusts its in-memory indexes. A thread's
connections are closed when the thread ends and its thread-local storage is collected.

A collection's file is set up by whichever connection opens it first; litemongo reads its format
row and inserts it when missing, so two connections opening a new collection at once both inserted
and the second failed ("UNIQUE constraint failed: info.key"). It showed as a 503 from /ready on the
first parallel burst at a fresh store. ``RaceSafeCollectionStore`` reads the row again instead.
Opening a new file can also fail outright with "database is locked": switching a file to
write-ahead logging needs an exclusive lock, and while another connection is writing the file's
first tables SQLite refuses at once instead of waiting its busy timeout (it would deadlock). The
open is retried until that other connection's short setup transaction has committed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from litemongo import sqlite_store


class RaceSafeCollectionStore(sqlite_store.CollectionStore):
    """litemongo's collection store, safe when several connections create its file at once."""

    #: How long to keep retrying an open refused with "database is locked" (seconds).
    open_deadline_s = 30.0

    def open(self) -> None:
        deadline = time.monotonic() + self.open_deadline_s
        pause = 0.005
        while True:
            try:
                return super().open()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() + pause > deadline:
                    raise
                self._connection.close()  # the half-opened connection; ``super().open()`` makes a new one
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _init_info(self) -> int:
        try:
            return super()._init_info()
        except sqlite3.IntegrityError:
            # Another connection inserted the format row between our read and our insert: the row
            # now exists, and a second read returns it.
            return super()._init_info()


class PerThreadDatabaseStore(sqlite_store.DatabaseStore):
    """A database whose collection stores (each an SQLite connection) belong to one thread each."""

    def __init__(self, path: Path, codec_options: Any = None) -> None:
        self._local = threading.local()
        super().__init__(path, codec_options)

    # litemongo keeps the open collection stores in ``_collections``; a property makes it per thread.
    @property
    def _collections(self) -> dict[str, sqlite_store.CollectionStore]:
        try:
            return self._local.collections
        except AttributeError:
            self._local.collections = {}
            return self._local.collections

    @_collections.setter
    def _collections(self, value: dict[str, sqlite_store.CollectionStore]) -> None:
        self._local.collections = value

    def __getitem__(self, col_name: str) -> sqlite_store.CollectionStore:
        collections = self._collections
        if col_name not in collections:
            collections[col_name] = RaceSafeCollectionStore(self._dirpath / col_name, codec_options=self._codec_options)
        return collections[col_name]


class PerThreadServerStore(sqlite_store.ServerStore):
    """litemongo's ``ServerStore`` handing out ``PerThreadDatabaseStore``s (shared, thread-safe)."""

    def __init__(self, dirpath: str | Path = "") -> None:
        self._lock = threading.Lock()
        super().__init__(dirpath)

    def __getitem__(self, db_name: str) -> PerThreadDatabaseStore:
        with self._lock:
            if db_name not in self._databases:
                self._databases[db_name] = PerThreadDatabaseStore(self._dirpath / db_name)
            return self._databases[db_name]
