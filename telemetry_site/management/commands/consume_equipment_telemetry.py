"""``manage.py consume_equipment_telemetry --service current|history|usage``."""

from __future__ import annotations

from django.conf import settings

from telemetry_site.management.consumer_command import ConsumerCommand


class Command(ConsumerCommand):
    help = "Consume the telemetry topic for one service (its own consumer group) until stopped."

    def service_choices(self) -> list[str]:
        return [name for name, d in settings.TELEMETRY_SERVICES.items() if d.get("CODEC") == "telemetry"]
