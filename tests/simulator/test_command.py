"""``manage.py simulate_fleet`` with a recording producer: what it publishes, where, and when it stops."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devstack.simulator import FleetSimulator
from stream.codecs import JsonCodec
from telemetry_site import backends

END = 1_767_866_400_000  # 2026-01-08T10:00:00Z, a Thursday morning in Milan
DAY = 86_400_000


@pytest.fixture
def recorder(settings):
    """JSON codecs and a recording Kafka factory; returns a function giving the last producer."""

    def configure(**producer_options):
        settings.TELEMETRY_KAFKA = {
            "default": {"BACKEND": "tests.simulator.fakes.FakeKafka", "OPTIONS": producer_options}
        }
        return lambda: backends.kafka["default"].producers[-1]

    settings.TELEMETRY_CODECS = {
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
        "registry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "equipment_registry.avsc"}},
    }
    settings.TELEMETRY_TOPIC, settings.REGISTRY_TOPIC = "telemetry-topic", "registry-topic"
    return configure


def simulate(*args: str) -> str:
    out = StringIO()
    call_command("simulate_fleet", "--no-progress", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_backfill_publishes_exactly_the_simulated_stream_to_the_right_topics(recorder):
    producer = recorder()
    rates = ("--duplicate-rate", "0.02", "--late-rate", "0.02", "--garbage-rate", "0.01", "--reset-rate", "0.1")
    summary = simulate("--machines", "6", "--seed", "9", "--backfill-days", "1", "--end", str(END), *rates)

    simulator = FleetSimulator(
        machines=6, seed=9, start_ms=END - DAY, duplicate_rate=0.02, late_rate=0.02, garbage_rate=0.01, reset_rate=0.1
    )
    expected = list(simulator.events(until_ms=END))
    telemetry, registry = JsonCodec("c40_enriched.avsc"), JsonCodec("equipment_registry.avsc")
    sent = producer().messages
    assert producer().flushed
    assert len(sent) == len(expected) > 1000
    for (topic, key, value), event in zip(sent, expected, strict=True):
        assert key == event.key.encode()
        if event.kind == "registry":
            assert (topic, registry.decode(value)) == ("registry-topic", event.value)
        elif event.kind == "telemetry":
            assert (topic, telemetry.decode(value)) == ("telemetry-topic", event.value)
        else:
            assert (topic, value) == ("telemetry-topic", event.value)
    counts = simulator.counters
    assert counts.garbage and counts.duplicates and counts.late
    assert f"Published {len(sent)} messages" in summary
    assert (
        f"{counts.telemetry} telemetry ({counts.duplicates} duplicates, {counts.late} late, "
        f"{counts.heartbeats} with the engine off, {counts.without_gps} without GPS), "
        f"{counts.registry} registry, {counts.garbage} garbage; {counts.resets} counter resets"
    ) in summary


def test_max_messages_stops_the_run(recorder):
    producer = recorder()
    summary = simulate("--machines", "3", "--backfill-days", "2", "--max-messages", "25")
    assert len(producer().messages) == 25
    assert "Published 25 messages" in summary and "3 registry" in summary


def test_real_time_messages_are_stamped_with_the_wall_clock(recorder):
    producer = recorder()
    before = time.time_ns() // 1_000_000
    # Every box reports when it connects, so 4 registry records and 4 reports come at once.
    simulate("--machines", "4", "--rate", "400", "--max-messages", "8", "--duration", "60")
    after = time.time_ns() // 1_000_000
    codec = JsonCodec("c40_enriched.avsc")
    sent = producer().messages
    assert [topic for topic, _, _ in sent] == ["registry-topic"] * 4 + ["telemetry-topic"] * 4
    for _, key, value in sent[4:]:
        record = codec.decode(value)
        assert record["identifier"].encode() == key
        assert before <= record["timestamp"] <= after


def test_sigterm_stops_publishing_flushes_and_returns_normally(recorder):
    producer = recorder(signal_at=30)
    summary = simulate("--machines", "3", "--backfill-days", "2")
    assert len(producer().messages) == 30 and producer().flushed
    assert "Published 30 messages" in summary and "stopped by a signal" in summary


def test_undelivered_messages_fail_the_command(recorder):
    recorder(undelivered=3)
    with pytest.raises(CommandError, match="3 messages undelivered"):
        simulate("--machines", "2", "--backfill-days", "0.1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "10", "--end", "2026-01-01T00:00Z"), "--end only goes with --backfill-days"),
        (("--rate", "10", "--step-seconds", "5"), "leave out --step-seconds"),
        (("--machines", "0"), "at least 1"),
        (("--backfill-days", "1", "--end", "yesterday"), "ISO 8601"),
        (("--backfill-days", "1", "--time-zone", "Mars/Olympus"), "Mars/Olympus"),
    ],
)
def test_contradictory_or_bad_options_are_refused(recorder, args, message):
    recorder()
    with pytest.raises(CommandError, match=message):
        simulate(*args)


def test_a_resumed_fleet_publishes_only_what_the_services_have_not_stored(recorder, mongo_db, settings):
    """``--resume`` (make run's restart): the same fleet from its recorded start, each machine's
    events after the newest one every telemetry service stored; other options start a new fleet."""
    from stream.consumer import Record
    from telemetry_site.services import build_handler

    producer = recorder()
    # Two services on this topic (usage's handler publishes to Kafka; it is the newcomer test's).
    settings.TELEMETRY_SERVICES = {
        name: {**settings.TELEMETRY_SERVICES[name], "TOPIC": "telemetry-topic"} for name in ("current", "history")
    }
    fleet = ("--machines", "2", "--rate", "0.1", "--around-the-clock", "--resume")
    simulate(*fleet, "--backfill-days", "0.02", "--duration", "0.5")
    codec = JsonCodec("c40_enriched.avsc")
    first = producer().messages
    telemetry = [(key, codec.decode(value)) for topic, key, value in first if topic == "telemetry-topic"]
    assert len(telemetry) > 100
    # Current stored the first half (a machine's events are in time order, as in a partition);
    # history only the first quarter, as if it lagged.
    stored = {"current": telemetry[: len(telemetry) // 2], "history": telemetry[: len(telemetry) // 4]}
    for service, records in stored.items():
        build_handler(service).handle([Record(v, k, "telemetry-topic", 0, i) for i, (k, v) in enumerate(records)])
    history_until = {}
    for key, value in stored["history"]:
        history_until[key] = max(history_until.get(key, 0), value["timestamp"])

    summary = simulate(*fleet, "--backfill-days", "0.02", "--duration", "0.5")
    assert "Resuming the fleet" in summary
    again = [(key, codec.decode(value)) for topic, key, value in producer().messages if topic == "telemetry-topic"]
    expected = [(k, v) for k, v in telemetry if v["timestamp"] > history_until[k]]
    # The same fleet: the events it publishes again are the first run's, from where history stopped.
    assert again[: len(expected)] == expected
    assert len(again) < len(first)

    summary = simulate("--machines", "3", "--rate", "0.1", "--resume", "--backfill-days", "0.02", "--duration", "0.5")
    assert "other options: starting a new one" in summary


def test_resume_needs_a_live_fleet(recorder):
    recorder()
    with pytest.raises(CommandError, match="--resume goes with --rate"):
        simulate("--backfill-days", "1", "--resume")
