"""Builders of realistic messages for tests (plain dicts in the shape of the Avro schemas)."""

from __future__ import annotations

from typing import Any

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z, epoch ms


def telemetry(
    identifier: str = "EX001",
    timestamp: int = T0,
    *,
    latitude: float | None = 45.46,
    longitude: float | None = 9.19,
    address: str | None = "Via Roma 1, Milano",
    pois: list[str] | None = None,
    hours: float | None = 100.0,
    km: float | None = 5000.0,
    running: bool | None = True,
    fuel_used: float | None = 1000.0,
    fuel_level: float | None = 50.0,
    brand: str | None = "Caterpillar",
    model: str | None = "320",
    base: str | None = "MI01",
) -> dict[str, Any]:
    has_gps = latitude is not None or longitude is not None
    return {
        "identifier": identifier,
        "timestamp": timestamp,
        "base": {"code": base},
        "description": {"brand": brand, "model": model},
        "location": {
            "address": address,
            "GPS": {"latitude": latitude, "longitude": longitude} if has_gps else None,
            "pointsOfInterest": [{"name": name} for name in (pois or [])],
        },
        "c40": {
            "odometry": {"hours_tot": hours, "km_tot": km},
            "engine": {"running": running},
            "fuel": {"used_tot_l": fuel_used, "level_pct": fuel_level},
        },
    }


def produce(producer: Any, topic: str, codec: Any, records: list[dict], key_field: str = "identifier") -> None:
    """Produce ``records`` encoded with ``codec``, keyed by identifier, and wait for delivery."""
    for record in records:
        producer.produce(topic, key=record[key_field].encode(), value=codec.encode(record))
        producer.poll(0)
    assert producer.flush(30) == 0, "some test messages were not delivered"


def authenticated_api_client() -> Any:
    """A DRF client authenticated as an (unsaved) user: the API itself needs no SQL."""
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=User(username="tester"))
    return client
