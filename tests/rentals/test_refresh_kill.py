"""``refresh_rental_statements`` SIGKILLed mid-run, in its own process on the real broker, a shared
litemongo store and a shared SQLite file: the rerun issues every missing version, each contract
ends with exactly one version, and the topic holds each version's event at least once, always with
the same event id (a kill between delivery and storing republishes it, never a different one)."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime

from equipment_usage.business_ledger import Reading, UsageRules
from equipment_usage.handlers import UsageHandler
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_registry import EquipmentRegistryRepository
from tests.processes import ROOT, process_env, start_command
from tests.rentals.fleet import RecordingPublisher, ms
from tests.usage.test_consumer_broker import Store
from tests.usage.test_late_broker import read_all

CONTRACTS = 200
START = datetime(2026, 6, 1, tzinfo=UTC)
H = 3_600_000
CREATE = """
from datetime import datetime, UTC
from equipment_rentals.models import RentalContract
RentalContract.objects.bulk_create(
    RentalContract(customer_ref=f"C{i}", machine=f"M{i:03d}", on_rent=datetime(2026, 6, 1, tzinfo=UTC),
                   off_rent=datetime(2026, 6, 3, tzinfo=UTC), basis="day", base_rate=640, currency="EUR")
    for i in range(N_CONTRACTS)
)
""".replace("N_CONTRACTS", str(CONTRACTS))


def run(env, *args):
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def stored(path) -> int:
    try:
        with sqlite3.connect(path, timeout=0.1) as connection:
            return connection.execute("select count(*) from equipment_rentals_rentalstatement").fetchone()[0]
    except sqlite3.OperationalError:  # locked by the writer for a moment
        return -1


def test_sigkill_mid_refresh_then_rerun_issues_each_version_once(kafka, settings, tmp_path):
    store = Store(tmp_path)
    try:
        usage = UsageRepository(store.database)
        usage.ensure_indexes()
        handler = UsageHandler(usage, EquipmentRegistryRepository(store.database), RecordingPublisher(), UsageRules())
        handler.process(
            [
                Reading(f"M{i:03d}", ms(START) + step * 4 * H, 100.0 + step * 1.5, None)
                for i in range(CONTRACTS)
                for step in range(13)
            ]
        )
        env = process_env(
            settings, tmp_path, RENTALS_TOPIC=settings.RENTALS_TOPIC, MONGO_URI=store.uri, MONGO_DB=store.name
        )
        sqlite_path = env["DJANGO_SQLITE_PATH"]
        run(env, "migrate", "--no-input", "-v", "0")
        run(env, "shell", "-c", CREATE)

        first = start_command(env, "refresh_rental_statements", "--as-of", "2026-06-04T00:00:00Z")
        deadline = time.monotonic() + 120
        while stored(sqlite_path) < 10:
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        at_kill = stored(sqlite_path)
        assert 10 <= at_kill < CONTRACTS, at_kill  # killed mid-run

        output = run(env, "refresh_rental_statements", "--as-of", "2026-06-04T00:00:00Z")
        assert f"{CONTRACTS - at_kill} statement version(s) issued" in output
        assert "0 statement version(s) issued" in run(
            env, "refresh_rental_statements", "--as-of", "2026-06-04T00:00:00Z"
        )

        with sqlite3.connect(sqlite_path) as connection:
            rows = connection.execute(
                "select contract_id, version, event_id from equipment_rentals_rentalstatement"
            ).fetchall()
        assert len(rows) == CONTRACTS and {version for _, version, _ in rows} == {1}
        ids = {contract: event_id for contract, _, event_id in rows}
        events = defaultdict(set)
        for message in read_all(kafka, settings.RENTALS_TOPIC, idle=2.0):
            event = json.loads(message.value())
            assert message.key().decode() == str(event["contract_id"])
            events[event["contract_id"]].add((event["version"], event["event_id"]))
        assert {contract: versions for contract, versions in events.items()} == {
            contract: {(1, event_id)} for contract, event_id in ids.items()
        }
    finally:
        store.close()
