"""Ops views on the real broker: lag per partition, progress, dead letters, silent machines."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from equipment_current.business import fold_state_updates
from stream.codecs import JsonCodec
from telemetry_site import backends
from tests.factories import T0, telemetry

pytestmark = [pytest.mark.broker, pytest.mark.django_db]


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(User.objects.create_user("ops", password="x", is_staff=True))
    return client


@pytest.fixture
def json_codec(settings):
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    return JsonCodec("c40_enriched.avsc")


def produce_one_by_one(producer, topic, values, partition=0):
    # Tansu reports a partition's end offset as if each produced batch were one record; flushing
    # after every record makes each batch one record, so end offsets (and lag) are exact here as on Kafka.
    for value in values:
        producer.produce(topic, value=value, key=b"k", partition=partition)
        assert producer.flush(10) == 0


def test_ops_pages_need_staff(client, mongo_db):
    for path in ("/admin/ops/", "/admin/ops/dead-letters/", "/admin/ops/silent/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_index_links_the_ops_views(staff_client, mongo_db):
    body = staff_client.get("/admin/").content.decode()
    for path in ("/admin/ops/", "/admin/ops/dead-letters/", "/admin/ops/silent/"):
        assert f'href="{path}"' in body


def test_overview_shows_lag_per_partition_and_progress(staff_client, kafka, json_codec, mongo_db, settings):
    topic = settings.TELEMETRY_TOPIC
    producer = kafka.producer()
    produce_one_by_one(producer, topic, [json_codec.encode(telemetry("EX1", T0 + i)) for i in range(3)], partition=0)
    out = StringIO()
    call_command("consume_equipment_telemetry", "--service", "current", "--idle-timeout", "3", stdout=out)
    assert "3 messages" in out.getvalue()
    produce_one_by_one(producer, topic, [json_codec.encode(telemetry("EX1", T0 + 10 + i)) for i in range(2)], 0)
    produce_one_by_one(producer, topic, [json_codec.encode(telemetry("EX2", T0))], partition=1)

    response = staff_client.get("/admin/ops/")
    assert response.status_code == 200
    lag = {g["lag"].service: g for g in response.context["services"]}["current"]["lag"]
    partitions = {p.partition: p for p in lag.partitions}
    assert (partitions[0].committed, partitions[0].end, partitions[0].lag) == (3, 5, 2)
    assert (partitions[1].committed, partitions[1].end, partitions[1].lag) == (None, 1, 1)
    assert lag.total == 3
    body = " ".join(response.content.decode().split())
    assert 'class="total-lag">3<' in body
    assert "3 messages (3 processed, 0 dead-lettered)" in body
    assert "key k" in body


def test_lag_counts_records_when_the_broker_counts_batches(staff_client, kafka, json_codec, mongo_db, settings):
    """Tansu reports the end of a partition as the base offset of its last batch + 1: 25 records
    sent in one batch "ended" at 1. The overview reads the last batch and counts records."""
    producer = kafka.producer()
    for i in range(25):
        producer.produce(settings.TELEMETRY_TOPIC, value=json_codec.encode(telemetry("EX1", T0 + i)), partition=0)
    assert producer.flush(10) == 0
    for i in range(4):  # a second batch, on top
        producer.produce(settings.TELEMETRY_TOPIC, value=json_codec.encode(telemetry("EX1", T0 + 100 + i)), partition=0)
    assert producer.flush(10) == 0
    response = staff_client.get("/admin/ops/")
    lag = {g["lag"].service: g for g in response.context["services"]}["usage"]["lag"]
    assert [(p.partition, p.committed, p.end, p.lag) for p in lag.partitions][:2] == [
        (0, None, 29, 29),
        (1, None, 0, 0),
    ]
    assert lag.total == 29


def test_dead_letters_are_browsable_with_error_and_origin(staff_client, kafka, json_codec, mongo_db, settings):
    producer = kafka.producer()
    produce_one_by_one(producer, settings.TELEMETRY_TOPIC, [b"not json at all", json_codec.encode(telemetry())])
    call_command("consume_equipment_telemetry", "--service", "current", "--idle-timeout", "3", stdout=StringIO())

    listing = staff_client.get("/admin/ops/dead-letters/")
    assert listing.status_code == 200
    letters = [letter for letter, _ in listing.context["letters"]]
    assert len(letters) == 1
    assert letters[0].error.startswith("decode: not JSON")
    assert letters[0].origin == f"{settings.TELEMETRY_TOPIC} [0] @ 0"

    detail = staff_client.get(f"/admin/ops/dead-letters/0/{letters[0].offset}/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "not json at all" in body and "decode: not JSON" in body and "dlq.origin.offset" in body
    assert staff_client.get("/admin/ops/dead-letters/0/999/").status_code == 404
    assert staff_client.get("/admin/ops/dead-letters/?offset=x").status_code == 400


def test_silent_machines(staff_client, kafka, mongo_db, settings):
    import time

    now = int(time.time() * 1000)
    records = [telemetry("QUIET", now - 3 * 3_600_000), telemetry("BUSY", now - 60_000)]
    backends.repositories["current_state"].apply(fold_state_updates(records).values())
    response = staff_client.get("/admin/ops/silent/", {"minutes": 120})
    assert [m["identifier"] for m in response.context["machines"]] == ["QUIET"]
    assert response.context["machines"][0]["silent_minutes"] == 180
    assert staff_client.get("/admin/ops/silent/", {"minutes": 0}).status_code == 400
