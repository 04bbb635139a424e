"""Maintenance events on the real broker (Tansu), Avro through the in-process registry.

- the consumer service (``consume_equipment_telemetry --service maintenance``) turns readings into
  DUE_SOON / DUE / OVERDUE, and a replay of the whole topic under a new group emits none again;
- a late reading emits nothing a correct (event-time) order would not;
- a kill between the steps of a batch (claim, publish, mark, raise the mark), simulated by a part
  that raises there as usage's and rentals' crash tests do, loses nothing and doubles nothing in the
  emission store; on the topic only a kill between delivery and marking repeats an event, with the
  same event id (docs/MAINTENANCE.md, "Emitted once");
- a DONE the broker did not take at POST time stays pending and goes out with the next readings.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date, timedelta
from io import StringIO

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from django.core.management import call_command

from equipment_maintenance.business import plan_events
from equipment_maintenance.handlers import MaintenanceHandler
from equipment_maintenance.models import ServiceRecord
from equipment_maintenance.plans import emit_done, plans_of
from equipment_maintenance.publisher import MaintenancePublisher
from equipment_maintenance.repository import MaintenanceEventRepository
from stream.consumer import Record
from tests.factories import produce, telemetry
from tests.maintenance.fleet import assign, midnight_ms, plan, serviced

pytestmark = pytest.mark.broker

DAY1 = date(2026, 6, 1)
H = 3_600_000


def reading(machine: str, day: int, hours: float) -> dict:
    """A telemetry message of ``machine`` at noon of June ``day``, 2026."""
    return telemetry(machine, midnight_ms(DAY1 + timedelta(days=day - 1)) + 12 * H, hours=hours)


def records(values: list[dict]) -> list[Record]:
    return [Record(value, value["identifier"].encode(), "telemetry", 0, offset) for offset, value in enumerate(values)]


def topic_events(kafka, avro, settings, at_least: int = 1, idle: float = 0.5) -> list[dict]:
    """Every event on the topic: both partitions assigned from the start (no group join, which
    takes seconds on Tansu), read until ``at_least`` came and then nothing for ``idle`` seconds."""
    consumer = kafka.consumer(f"reader-{uuid.uuid4().hex}")
    consumer.assign([TopicPartition(settings.MAINTENANCE_TOPIC, p, OFFSET_BEGINNING) for p in (0, 1)])
    messages: list = []
    deadline, last = time.monotonic() + 20, time.monotonic()
    try:
        while time.monotonic() < deadline and (len(messages) < at_least or time.monotonic() - last < idle):
            batch = [m for m in consumer.consume(100, timeout=0.1) if m.error() is None]
            if batch:
                messages += batch
                last = time.monotonic()
    finally:
        consumer.close()
    return [avro["maintenance"].decode(m.value()) for m in messages]


@pytest.fixture
def planned(db, mongo_db, settings):
    """Machines M1..M3 on a 250 h plan, serviced at 1,000 h on May 1st (their cycle 1)."""
    settings.MAINTENANCE_CLOCK = "tests.maintenance.fleet.fixed_now"
    template = plan()
    for machine in ("M1", "M2", "M3"):
        assign(template, machine)
        serviced(template, machine, 1000, date(2026, 5, 1))
    return template


def test_consumer_emits_each_status_once_and_a_replay_emits_nothing(kafka, avro, planned, settings):
    stream = [reading("M1", day, hours) for day, hours in [(1, 1100), (2, 1226), (3, 1250), (4, 1300), (5, 1310)]]
    stream += [reading("M2", day, hours) for day, hours in [(1, 1200), (2, 1230), (3, 1235)]]
    stream += [reading("M3", 1, 1270), reading("NOPLAN", 1, 5000)]
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], stream + stream[:4])  # and duplicates

    def consume() -> str:
        # Idle time counts from the group's assignment; 2 s leaves room for a loaded CI machine's
        # first fetch (usage's tests take 4 s).
        out = StringIO()
        call_command("consume_equipment_telemetry", "--service", "maintenance", "--idle-timeout", "2", stdout=out)
        return out.getvalue()

    assert f"{len(stream) + 4} processed" in consume()
    first = topic_events(kafka, avro, settings, at_least=5)
    t = planned.pk
    assert sorted(e["event_id"] for e in first) == sorted(
        [f"M1|{t}|1|due_soon", f"M1|{t}|1|due", f"M1|{t}|1|overdue", f"M2|{t}|1|due_soon", f"M3|{t}|1|due"]
    )
    (overdue,) = [e for e in first if e["status"] == "overdue"]
    assert (overdue["hours"], overdue["due_hours"], overdue["overdue_by"], overdue["date"]) == (
        1300,
        1250,
        50,
        "2026-06-04",
    )

    # The whole topic again, under a new group (edited in place: see tests/usage/test_consumer_broker.py).
    settings.TELEMETRY_SERVICES["maintenance"]["GROUP_ID"] = "replay-" + settings.TELEMETRY_TOPIC
    assert f"{len(stream) + 4} processed" in consume()
    assert Counter(e["event_id"] for e in topic_events(kafka, avro, settings)) == Counter(e["event_id"] for e in first)


def test_a_late_reading_emits_nothing_a_correct_order_would_not(kafka, avro, planned, settings):
    # Event time: day 1 at 1,260 h (a meter glitch, above the next), day 2 at 1,240, day 3 at 1,300.
    # Correct order: DUE at 1,260, nothing at 1,240 (below the highest), OVERDUE at 1,300.
    # Arrival: day 1, day 3, then day 2 late, each its own batch. Judged alone, 1,240 is DUE_SOON.
    arrival = [(1, 1260), (3, 1300), (2, 1240)]
    handler = MaintenanceHandler(publisher=MaintenancePublisher())
    for day, hours in arrival:
        handler.handle(records([reading("M1", day, hours)]))
    (m1_plan,) = plans_of(["M1"])["M1"]
    in_event_time = [(DAY1 + timedelta(days=day - 1), hours) for day, hours in arrival]
    correct = {(e.cycle, e.status) for e in plan_events(m1_plan.rules, in_event_time, m1_plan.services)}
    emitted = {(e["cycle"], e["status"]) for e in topic_events(kafka, avro, settings)}
    assert emitted == correct == {(1, "due"), (1, "overdue")}


class CrashingPublisher(MaintenancePublisher):
    """Dies before delivering: the batch's events are claimed, pending."""

    def publish(self, events):
        raise KeyboardInterrupt("killed before publishing")


class CrashAfterDelivery(MaintenanceEventRepository):
    """Dies after the events were delivered, before they are marked published."""

    def mark_published(self, events):
        raise KeyboardInterrupt("killed after delivery")


class CrashBeforeTheMark(MaintenanceEventRepository):
    """Dies after marking, before the highest hours are raised."""

    def raise_highest(self, hours):
        raise KeyboardInterrupt("killed before the high-water mark")


BATCH = [reading("M1", 2, 1226), reading("M2", 2, 1260), reading("M3", 2, 1300), reading("M1", 3, 1250)]


@pytest.mark.parametrize(
    "events_class, publisher_class, repeated",
    [
        (MaintenanceEventRepository, CrashingPublisher, 0),
        (CrashAfterDelivery, MaintenancePublisher, 1),  # delivered once before the kill, once after
        (CrashBeforeTheMark, MaintenancePublisher, 0),
    ],
)
def test_a_kill_mid_batch_loses_nothing_and_stores_each_event_once(
    kafka, avro, planned, settings, mongo_db, events_class, publisher_class, repeated
):
    killed = MaintenanceHandler(events_class(mongo_db), publisher_class())
    with pytest.raises(KeyboardInterrupt):
        killed.handle(records(BATCH))
    # The restarted consumer gets the uncommitted batch again.
    events = MaintenanceEventRepository(mongo_db)
    MaintenanceHandler(events, MaintenancePublisher()).handle(records(BATCH))
    t = planned.pk
    expected = {f"M1|{t}|1|due_soon", f"M1|{t}|1|due", f"M2|{t}|1|due", f"M3|{t}|1|overdue"}
    stored = list(mongo_db.maintenance_emissions.find())
    assert sorted(d["_id"] for d in stored) == sorted(expected) and {d["state"] for d in stored} == {"published"}
    on_topic = topic_events(kafka, avro, settings, at_least=len(expected) * (1 + repeated))
    counts = Counter(e["event_id"] for e in on_topic)
    assert set(counts) == expected
    assert sum(counts.values()) == len(expected) + repeated * len(expected)
    # A repeat is the same event: the same id and the same content.
    assert len({tuple(sorted(e.items())) for e in on_topic}) == len(expected)
    assert events.highest(["M1", "M2", "M3"]) == {"M1": 1250, "M2": 1260, "M3": 1300}


class DownPublisher(MaintenancePublisher):
    def publish(self, events):
        raise OSError("broker unreachable")


def test_a_done_the_broker_did_not_take_goes_out_with_the_next_readings(kafka, avro, planned, settings, mongo_db):
    record = ServiceRecord.objects.create(machine="M1", template=planned, hours=1240, date=date(2026, 6, 2))
    emit_done(record, cycle=1, publisher=DownPublisher())  # the POST still answers 201
    assert [d["state"] for d in mongo_db.maintenance_emissions.find()] == ["pending"]
    MaintenanceHandler(publisher=MaintenancePublisher()).handle(records([reading("M1", 3, 1245)]))
    (done,) = topic_events(kafka, avro, settings)
    assert (done["event_id"], done["status"], done["hours"]) == (f"M1|{planned.pk}|1|done", "done", 1240)
