"""The ops page of rate changes: re-pricings and refusals, staff only (no broker needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.contrib.auth.models import User
from django.test import Client

from equipment_usage.handlers_registry import EquipmentRegistryHandler
from telemetry_site import backends
from tests.usage.test_handler import RecordingPublisher
from tests.usage.test_late_handler import DAY0, RULES, H
from tests.usage.test_repricing import Stack, hourly_readings, version

pytestmark = pytest.mark.django_db


def test_the_ops_page_lists_repricings_and_refusals(mongo_db):
    assert Client().get("/admin/ops/repricings/").status_code == 302  # staff only
    stack = Stack(mongo_db, replace(RULES, reprice_max_age_days=1.0))
    stack.registry.process([version(DAY0 - H, 10.0)])
    stack.usage.process(hourly_readings(16))  # 0 h .. 45 h: the horizon is 21 h
    registry = EquipmentRegistryHandler(
        backends.repositories["equipment_registry"],
        backends.repositories["usage"],
        RecordingPublisher(),
        replace(RULES, reprice_max_age_days=1.0),
        clock=iter([(DAY0 + 50 * H) / 1000, (DAY0 + 51 * H) / 1000]).__next__,
    )
    registry.process([version(DAY0 + 30 * H, 20.0, currency="CHF")])
    registry.process([version(DAY0 + 3 * H, 30.0)])

    client = Client()
    client.force_login(User.objects.create_user("ops", password="x", is_staff=True))
    response = client.get("/admin/ops/repricings/")
    assert response.status_code == 200
    assert [(r["identifier"], r["entries"], r["refused_before"]) for r in response.context["reports"]] == [
        ("EX1", 3, "2025-11-25T21:00:00.000Z"),  # newest first: governs 3 h .. 30 h, applied from 21 h
        ("EX1", 5, None),  # 30 h .. 42 h re-priced
    ]
    body = " ".join(response.content.decode().split())
    assert "1 version below reached further back" in body and "CHF" in body
    assert "<strong>2025-11-25T21:00:00.000Z</strong>" in body
    assert 'href="/admin/ops/repricings/"' in client.get("/admin/").content.decode()
