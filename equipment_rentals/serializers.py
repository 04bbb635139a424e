"""Strict contract serializer: unknown fields, overlapping contracts, off-rent before on-rent, an
unknown currency or time zone are a 400 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q
from rest_framework import serializers

from equipment_rentals.currencies import ISO_4217
from equipment_rentals.models import RentalContract


class ContractSerializer(serializers.ModelSerializer):
    base_rate = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal(0))
    allowance_hours = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True
    )
    overtime_factor = serializers.DecimalField(max_digits=6, decimal_places=3, min_value=Decimal(1), required=False)
    period_days = serializers.IntegerField(min_value=1, max_value=366, required=False, allow_null=True)

    class Meta:
        model = RentalContract
        fields = [
            "id",
            "customer_ref",
            "machine",
            "serial",
            "on_rent",
            "off_rent",
            "basis",
            "base_rate",
            "currency",
            "allowance_hours",
            "period_days",
            "overtime_factor",
            "shift_multiplier",
            "pooled",
            "time_zone",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_currency(self, value: str) -> str:
        if value not in ISO_4217:
            raise serializers.ValidationError(f"Unknown currency {value[:8]!r}; an ISO 4217 code such as EUR.")
        return value

    def validate_time_zone(self, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise serializers.ValidationError(f"Unknown time zone {value[:64]!r}; an IANA name.") from None
        return value

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, data: dict) -> dict:
        def current(name: str) -> Any:
            return data[name] if name in data else getattr(self.instance, name, None)

        on_rent, off_rent, machine = current("on_rent"), current("off_rent"), current("machine")
        if off_rent is not None and on_rent is not None and off_rent <= on_rent:
            raise serializers.ValidationError({"off_rent": "Must be after on_rent."})
        overlapping = RentalContract.objects.filter(machine=machine).filter(
            Q(off_rent__isnull=True) | Q(off_rent__gt=on_rent)
        )
        if off_rent is not None:
            overlapping = overlapping.filter(on_rent__lt=off_rent)
        if self.instance is not None:
            overlapping = overlapping.exclude(pk=self.instance.pk)
        other = overlapping.first()
        if other is not None:
            raise serializers.ValidationError(
                {
                    "machine": f"Already on rent under contract {other.pk} from {other.on_rent.isoformat()}"
                    f" to {other.off_rent.isoformat() if other.off_rent else 'open end'}."
                }
            )
        return data
