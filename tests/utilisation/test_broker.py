"""Utilisation end to end on the real broker (Tansu) with real Avro bytes: the consumer command
reads telemetry, the topic gets each day's row, a late reading republishes its day as version 2,
and a replay of the whole topic by a new consumer group publishes nothing new."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import produce
from tests.usage.test_late_broker import read_all
from tests.utilisation.fleet import HOUR_MS, MINUTE_MS, Trace, ms

pytestmark = pytest.mark.broker


def consume(settings) -> str:
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", "utilisation", "--idle-timeout", "2", stdout=out)
    return out.getvalue()


def test_rows_on_the_topic_a_late_reading_is_version_2_and_a_replay_adds_nothing(kafka, avro, mongo_db, settings):
    settings.UTILISATION_TIME_ZONE = "Europe/Rome"
    trace = Trace("DT1", "B30E", ms("2026-03-10 08:00"), step_ms=10 * MINUTE_MS)
    trace.run("work", 2 * HOUR_MS).silence(2 * HOUR_MS, running=True).run("work", 14 * HOUR_MS, step_ms=30 * MINUTE_MS)
    records = trace.readings
    late = dict(records[12], timestamp=ms("2026-03-10 11:00"))
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], records)
    assert "0 dead-lettered" in consume(settings)
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], [late])
    # A new consumer group: the whole topic again (a replay), the late reading last.
    settings.TELEMETRY_SERVICES = {
        **settings.TELEMETRY_SERVICES,
        "utilisation": {**settings.TELEMETRY_SERVICES["utilisation"], "GROUP_ID": "utilisation-replay"},
    }
    assert f"{len(records) + 1} messages" in consume(settings)

    messages = read_all(kafka, settings.UTILISATION_TOPIC, idle=1.5)
    published = sorted(
        (m.key().decode(), row["version"], row["no_data_hours"])
        for m in messages
        for row in [avro["utilisation"].decode(m.value())]
    )
    assert [(key, version) for key, version, _ in published] == [
        ("DT1|Cantiere A|2026-03-10", 1),
        ("DT1|Cantiere A|2026-03-10", 2),  # the late reading; the replay before it published nothing
        ("DT1|Cantiere A|2026-03-11", 1),
    ]
    assert published[0][2] - published[1][2] == pytest.approx(2.0, abs=1e-5)  # the gap it filled
