"""The database refuses zero or negative intervals; a template converts to the pure rules."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord


@pytest.mark.parametrize("field, value", [("interval_hours", 0), ("interval_hours", -5), ("interval_days", 0)])
def test_zero_or_negative_intervals_are_refused(db, field, value):
    with pytest.raises(IntegrityError):
        MaintenanceTemplate.objects.create(**{"name": "250 h", "interval_hours": 250, field: value})


def test_template_and_service_record_are_stored(db):
    template = MaintenanceTemplate.objects.create(name="250 h", interval_hours=250, interval_days=30)
    ServiceRecord.objects.create(machine="EX-1", template=template, hours=1000, date="2026-11-01")
    stored = MaintenanceTemplate.objects.get(name="250 h")
    assert (stored.anchor, stored.due_soon_fraction, stored.services.get().hours) == ("last_service", 0.10, 1000)
