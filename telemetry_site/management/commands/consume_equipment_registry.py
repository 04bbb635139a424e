"""``manage.py consume_equipment_registry``: the equipment registry topic -> rates in MongoDB."""

from __future__ import annotations

from telemetry_site.management.consumer_command import ConsumerCommand


class Command(ConsumerCommand):
    help = "Consume the equipment registry topic (machines' rates) until stopped."
    service = "registry"
