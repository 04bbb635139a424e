"""The alert consumer on the real broker (Tansu).

In process, Avro with the in-process registry: a fleet's stream (late and duplicated readings
included) opens alerts and publishes their events on ALERTS_TOPIC; replaying the whole stream
under a new group changes no alert and publishes nothing new.

Across processes (``manage.py consume_equipment_telemetry --service alerts``, JSON codec, a
litemongo store shared by the children, a migrated SQLite for the rules): SIGKILLs mid-stream and
restarts end with the alerts of one uninterrupted run, each once, and every stored alert's latest
event on the topic.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from equipment_alerts.handlers import AlertHandler
from equipment_alerts.repository import AlertRepository
from equipment_alerts.rules import builtin_rules
from stream.codecs import JsonCodec
from stream.consumer import Record
from telemetry_site.databases import open_database
from tests.factories import produce, telemetry
from tests.processes import ROOT, process_env, quick_group_env, real_mongo_uri
from tests.reliability.support import (
    ConsumerProcess,
    committed_offsets,
    fleet_stream,
    produce_tracked,
    use_fresh_database,
    wait_until,
)

pytestmark = pytest.mark.broker

MACHINES = 20
SATURDAY_9 = 1_796_461_200_000  # 2026-12-05T09:00:00Z, a Saturday: outside the default shift all day
MINUTE_MS = 60_000


def incidents() -> list[dict]:
    """Three machines with one incident each, at fixed times: a 30-min Saturday run (after_hours),
    a refuel from 20 to 80 %, an hour meter going down (meter_anomaly)."""
    records = []
    for i in range(40):
        ts = SATURDAY_9 + i * MINUTE_MS
        records.append(telemetry("AL-RUN", ts, running=i < 30, hours=500 + i / 60))
        level = 20.0 if i < 10 else min(80.0, 20.0 + (i - 9) * 10)
        records.append(telemetry("AL-FUEL", ts, running=False, hours=600.0, fuel_level=level))
        records.append(telemetry("AL-METER", ts, running=False, hours=700.0 if i != 20 else 650.0))
    return records


def consume(*args: str, idle: float = 3.0) -> str:
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", "alerts", *args, "--idle-timeout", str(idle), stdout=out)
    return out.getvalue()


def read_events(kafka, topic: str, codec, idle: float = 2.0) -> list[dict]:
    """Every message of ``topic``, decoded (assigned from the start: no group to join)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = kafka.consumer(f"reader-{uuid.uuid4().hex[:8]}")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out, quiet = [], 0.0
    try:
        while quiet < idle:
            message = consumer.poll(0.25)
            if message is None or message.error():
                quiet += 0.25
                continue
            quiet = 0.0
            out.append(codec.decode(message.value()))
    finally:
        consumer.close()
    return out


def standing(database) -> list[tuple]:
    """The alerts that stand (not withdrawn), as the API serves them, sorted."""
    return sorted(
        (d["machine"], d["rule"], d["start"], d["end"], round(d["value"], 6), d["state"])
        for d in database.alerts.find({"withdrawn": {"$ne": True}})
    )


class RecordingPublisher:
    """The real publisher's contract (publish or raise) without a broker: for the reference run."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def publish(self, messages) -> int:
        self.messages.extend(messages)
        return len(messages)


def reference(settings, stream: list[dict], batch: int = 500) -> list[tuple]:
    """The standing alerts of one uninterrupted in-process run over ``stream``. It swaps the
    database registry and restores the setting, which rebuilds the alias: a ``mongomock://``
    database of the test is then a new, empty one."""
    previous = settings.TELEMETRY_DATABASES
    database = use_fresh_database(settings, "alerts_reference")
    try:
        handler = AlertHandler(AlertRepository(database), RecordingPublisher(), builtin_rules(frozenset()))
        for start in range(0, len(stream), batch):
            chunk = stream[start : start + batch]
            handler.handle([Record(r, r["identifier"].encode(), "ref", 0, start + i) for i, r in enumerate(chunk)])
        return standing(database)
    finally:
        settings.TELEMETRY_DATABASES = previous


@pytest.mark.django_db
def test_replaying_the_stream_changes_no_alert_and_publishes_nothing_new(kafka, avro, mongo_db, settings):
    stream = fleet_stream(600, machines=MACHINES, seed=3) + incidents()
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], stream)
    summary = consume()
    assert f"{len(stream)} messages" in summary and "0 dead-lettered" in summary, summary
    first = standing(mongo_db)
    events = read_events(kafka, settings.ALERTS_TOPIC, avro["alerts"])
    by_machine = {(machine, rule.split(":")[1]) for machine, rule, *_ in first}
    assert {("AL-RUN", "after_hours"), ("AL-FUEL", "refuel"), ("AL-METER", "meter_anomaly")} <= by_machine
    assert len(first) >= MACHINES and any(kind == "fuel_drain" for _, kind in by_machine), by_machine
    assert {e["alert_id"] for e in events} == {d["_id"] for d in mongo_db.alerts.find()}
    assert len({e["event_id"] for e in events}) == len(events)  # no event twice

    # A new group reads the whole topic again (the dict edited in place: see tests/usage).
    settings.TELEMETRY_SERVICES["alerts"]["GROUP_ID"] = f"replay-{uuid.uuid4().hex[:8]}"
    summary = consume()
    assert f"{len(stream)} processed" in summary, summary
    assert standing(mongo_db) == first
    assert len(read_events(kafka, settings.ALERTS_TOPIC, avro["alerts"])) == len(events)
    # Last: the reference swaps the database registry (an in-process database is not reopened).
    assert first == reference(settings, stream)


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input", "-v", "0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sigkill_mid_batch_and_restarts_lose_and_double_nothing(kafka, settings, tmp_path):
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    codec = JsonCodec("c40_enriched.avsc")
    messages, batch, kills = 1000, 20, 3
    stream = fleet_stream(messages, machines=MACHINES, seed=4)
    expected = reference(settings, stream)
    ends = produce_tracked(
        kafka.producer(), settings.TELEMETRY_TOPIC, [(r["identifier"].encode(), codec.encode(r)) for r in stream]
    )
    env = process_env(settings, tmp_path, CONSUMER_BATCH_SIZE=str(batch), **quick_group_env())
    migrate(env)
    store = open_database(real_mongo_uri() or f"litemongo://{tmp_path}", env["MONGO_DB"])
    group = settings.TELEMETRY_SERVICES["alerts"]["GROUP_ID"]
    rng = random.Random("alerts-crash")
    points = sorted(rng.sample(range(batch, int(messages * 0.8)), kills))
    seen = 0
    started = time.monotonic()
    for run, point in enumerate(points):
        process = ConsumerProcess(env, "alerts", tmp_path / f"alerts-{run}.log")
        try:
            wait_until(lambda p=process, at=point - seen: not p.alive() or p.messages_seen() >= at, 90, 0.05)
            assert process.alive(), process.output()
            time.sleep(rng.uniform(0, 0.1))  # land anywhere in a batch
        finally:
            process.kill()
        seen += process.messages_seen()
        assert sum(committed_offsets(kafka, group, settings.TELEMETRY_TOPIC).values()) < messages, "kill after the end"
    last = ConsumerProcess(env, "alerts", tmp_path / "alerts-last.log", "--idle-timeout", "3")
    assert last.wait(120) == 0, last.output()

    assert committed_offsets(kafka, group, settings.TELEMETRY_TOPIC) == ends
    got = standing(store)
    assert got == expected  # nothing lost, nothing counted twice
    assert len({(m, rule, start) for m, rule, start, *_ in got}) == len(got)
    events = {e["event_id"] for e in read_events(kafka, settings.ALERTS_TOPIC, JsonCodec("alert_event.avsc"))}
    latest = {f"{d['_id']}-{d['version']}" for d in store.alerts.find()}
    assert latest <= events, "an alert was stored whose change was never published"
    print(
        f"\nALERTS crash messages={messages} kills={kills} alerts={len(got)} total_s={time.monotonic() - started:.1f}"
    )
