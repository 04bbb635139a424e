"""The embedded store (litemongo) used from many threads at once, as a threaded web server does."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from equipment_current.business import fold_state_updates
from equipment_current.repository import CurrentStateRepository, FleetFilter
from telemetry_site.databases import open_database
from telemetry_site.litemongo_store import RaceSafeCollectionStore
from tests.factories import T0, telemetry


def test_threads_read_and_write_one_litemongo_database_in_parallel(tmp_path):
    repository = CurrentStateRepository(open_database(f"litemongo://{tmp_path}", "c40"))
    repository.ensure_indexes()  # opened in this thread, used below from others
    repository.apply(fold_state_updates([telemetry("M00", T0)]).values())
    start = threading.Barrier(8)

    def request(worker: int) -> tuple[int, int]:
        start.wait(10)  # every thread touches the store at the same moment
        repository.apply(fold_state_updates([telemetry(f"M{worker + 1:02d}", T0 + worker)]).values())
        return repository.count(FleetFilter()), len(repository.find(FleetFilter(), 0, 100))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(request, range(8)))
    # Other threads write between the two reads: the second sees at least what the first counted.
    assert all(1 < count <= found <= 9 for count, found in answers)
    assert repository.count(FleetFilter()) == 9
    # A second database object (another process, in production) sees every thread's writes.
    other = CurrentStateRepository(open_database(f"litemongo://{tmp_path}", "c40"))
    assert sorted(state["_id"] for state in other.find(FleetFilter())) == [f"M{i:02d}" for i in range(9)]


def test_threads_opening_a_new_collection_at_once_all_succeed(tmp_path):
    """Each thread has its own connection; the first ones to open a collection's new file all set
    it up. The /ready probe of a fresh ``make run`` did exactly this on a parallel burst (issue 32)."""
    database = open_database(f"litemongo://{tmp_path}", "c40")
    for round_ in range(5):  # a new collection each round: the race is at its creation
        start = threading.Barrier(16)

        def first_touch(worker: int, name: str = f"fresh{round_}", start: threading.Barrier = start) -> int:
            start.wait(10)
            database[name].replace_one({"_id": worker}, {"_id": worker, "at": worker}, upsert=True)
            return database[name].count_documents({})

        with ThreadPoolExecutor(16) as pool:
            counts = list(pool.map(first_touch, range(16)))  # re-raises "UNIQUE constraint failed"
        assert all(1 <= count <= 16 for count in counts)
        assert database[f"fresh{round_}"].count_documents({}) == 16


def test_opening_a_file_another_connection_is_setting_up_waits_for_it(tmp_path):
    """While another connection (another thread or process) writes a new collection file's first
    tables, SQLite refuses the switch to write-ahead logging at once with "database is locked",
    without waiting its busy timeout. That failed CI once; the store retries the open instead."""
    path = tmp_path / "fresh"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another connection writing the first table
    other.execute("CREATE TABLE IF NOT EXISTS info(key PRIMARY KEY, value)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(path, timeout=5).execute("PRAGMA journal_mode=WAL")  # the refusal, at once

    class Impatient(RaceSafeCollectionStore):
        open_deadline_s = 0.1

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        Impatient(path)  # gives up while the other connection still holds the file
    threading.Timer(0.2, other.execute, ["COMMIT"]).start()
    store = RaceSafeCollectionStore(path)  # retries until the other connection commits
    assert store._connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store._connection.execute("SELECT value FROM info WHERE key = 'key_format'").fetchone() is not None
    other.close()
