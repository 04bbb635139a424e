"""Strict bodies of the alert rules: unknown fields, negative thresholds, an unknown time zone, a
scope without its value are a 400 naming the field."""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers

from equipment_alerts.business import FLEET, SITE, SITE_EXIT
from equipment_alerts.models import AlertRule


def time_zone_problem(value: str) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"Unknown time zone {value[:64]!r}; an IANA name such as Europe/Rome."
    return None


class StrictSerializer(serializers.ModelSerializer):
    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({str(name)[:100]: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate_time_zone(self, value: str) -> str:
        problem = time_zone_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class ShiftTime(serializers.RegexField):
    """A local time as HH:MM. Not DRF's TimeField: OpenAPI's ``format: time`` is RFC 3339's
    full-time, which wants an offset, and a shift's times have none (the rule's zone applies)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(regex=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", **kwargs)

    def to_representation(self, value: time | str) -> str:
        # A time read from the database; the validated "HH:MM" itself right after a create.
        return value if isinstance(value, str) else value.strftime("%H:%M")


class RuleSerializer(StrictSerializer):
    # Bounded above too: an unbounded FloatField takes Infinity, which no JSON answer can carry.
    threshold = serializers.FloatField(min_value=0, max_value=1_000_000, required=False, allow_null=True)
    duration_minutes = serializers.FloatField(min_value=0, max_value=525_600, required=False, allow_null=True)
    shift_start = ShiftTime(required=False, allow_null=True, help_text="HH:MM local; empty: 07:00")
    shift_end = ShiftTime(required=False, allow_null=True, help_text="HH:MM local; empty: 18:00")
    shift_weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), max_length=7, required=False
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "scope",
            "scope_value",
            "threshold",
            "duration_minutes",
            "site",
            "time_zone",
            "shift_start",
            "shift_end",
            "shift_weekdays",
            "enabled",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate(self, data: dict) -> dict:
        scope, scope_value = data.get("scope", FLEET), data.get("scope_value", "")
        if scope != FLEET and not scope_value:
            raise serializers.ValidationError({"scope_value": [f"Required for the {scope} scope."]})
        if scope == FLEET and scope_value:
            raise serializers.ValidationError({"scope_value": ["Must be empty for the fleet scope."]})
        if data.get("kind") == SITE_EXIT and not data.get("site") and scope != SITE:
            raise serializers.ValidationError({"site": ["site_exit needs the assigned site (or a site scope)."]})
        start, end = data.get("shift_start"), data.get("shift_end")
        if start is not None and end is not None and time.fromisoformat(end) <= time.fromisoformat(start):
            raise serializers.ValidationError({"shift_end": ["Must be after shift_start."]})
        return data
