"""``consume_equipment_telemetry --service maintenance`` SIGKILLed mid-stream, in its own process on
the real broker, a shared litemongo store and a shared SQLite file (JSON codec: the mock registry
lives in one process), then restarted: every event the stream reaches is in the store once and
published, and on the topic at least once, every copy the same (docs/MAINTENANCE.md, "Emitted once")."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, timedelta

import pytest

from equipment_maintenance.business import Service, Template, event_key, events
from stream.codecs import JsonCodec
from tests.factories import produce
from tests.maintenance.test_events_broker import DAY1, reading
from tests.processes import QUICK_GROUP, ROOT, process_env
from tests.usage.test_consumer_broker import Store
from tests.usage.test_late_broker import read_all

pytestmark = pytest.mark.broker

MACHINES = 60
# Hours per day of each machine's six readings: through DUE_SOON, DUE and OVERDUE of a 250 h plan
# serviced at 1,000 h; machine i starts i hours further, so machines reach them at different readings.
STEPS = (1100, 1200, 1230, 1252, 1270, 1290)
SETUP = """
from datetime import date
from django.core.management import call_command
call_command("migrate", verbosity=0)
from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord, TemplateAssignment
template = MaintenanceTemplate.objects.create(name="250 h", interval_hours=250)
machines = [f"K{i:03d}" for i in range(N)]
TemplateAssignment.objects.bulk_create(TemplateAssignment(template=template, machine=m) for m in machines)
ServiceRecord.objects.bulk_create(
    ServiceRecord(template=template, machine=m, hours=1000, date=date(2026, 5, 1)) for m in machines
)
print(template.pk)
""".replace("N)", f"{MACHINES})")


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def consumer(env: dict, log) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "manage.py"), "consume_equipment_telemetry", "--service", "maintenance"]
    return subprocess.Popen(
        [*command, "--idle-timeout", "2"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(kafka, settings, tmp_path):
    store = Store(tmp_path)
    try:
        env = process_env(
            settings,
            tmp_path,
            MAINTENANCE_TOPIC=settings.MAINTENANCE_TOPIC,
            MONGO_URI=store.uri,
            MONGO_DB=store.name,
            KAFKA_CONSUMER_OPTIONS=json.dumps(QUICK_GROUP),
            CONSUMER_BATCH_SIZE="10",
            LOG_LEVEL="WARNING",
        )
        template_id = int(manage(env, "shell", "-c", SETUP).split()[-1])
        per_machine = defaultdict(list)  # (date, hours) of each machine, for the expected events
        stream = []
        for day, hours in enumerate(STEPS):
            for i in range(MACHINES):
                machine, value = f"K{i:03d}", hours + i % 20
                stream.append(reading(machine, day + 1, value))
                per_machine[machine].append((DAY1 + timedelta(days=day), value))
        produce(kafka.producer(), settings.TELEMETRY_TOPIC, JsonCodec("c40_enriched.avsc"), stream)
        rules, done = Template(interval_hours=250), [Service(1000, date(2026, 5, 1))]
        expected = {
            event_key(machine, template_id, cycle, status)
            for machine, readings in per_machine.items()
            for cycle, status in events(rules, readings, done)
        }

        first = consumer(env, tmp_path / "first.log")
        deadline = time.monotonic() + 60
        while store.database.maintenance_emissions.count_documents({}) < 20:
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        at_kill = store.database.maintenance_emissions.count_documents({})
        assert at_kill < len(expected), "killed after the whole stream: nothing was tested"

        second = consumer(env, tmp_path / "second.log")
        assert second.wait(90) == 0, (tmp_path / "second.log").read_text()

        stored = list(store.database.maintenance_emissions.find())
        assert sorted(d["_id"] for d in stored) == sorted(expected)
        assert {d["state"] for d in stored} == {"published"}
        copies = defaultdict(list)
        for message in read_all(kafka, settings.MAINTENANCE_TOPIC, idle=1.0):
            event = json.loads(message.value())
            assert message.key().decode() == event["machine"]
            copies[event["event_id"]].append(event)
        assert set(copies) == expected
        total = sum(map(len, copies.values()))
        print(f"MAINTENANCE KILL at {at_kill} of {len(expected)} events stored, {total} copies on the topic")
        assert all(all(copy == events_[0] for copy in events_) for events_ in copies.values())
    finally:
        store.close()
