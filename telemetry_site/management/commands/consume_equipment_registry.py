"""``manage.py consume_equipment_registry``: the equipment registry topic -> rates in MongoDB; a
version that changes the price of stored usage re-prices it and publishes the corrections to the
usage topic (docs/USAGE.md, "Rate changes")."""

from __future__ import annotations

from telemetry_site.management.consumer_command import ConsumerCommand


class Command(ConsumerCommand):
    help = "Consume the equipment registry topic (machines' rates, re-pricing stored usage) until stopped."
    service = "registry"
