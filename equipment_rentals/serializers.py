"""Strict contract serializer: unknown fields, overlapping contracts, off-rent before on-rent, an
unknown currency or time zone are a 400 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers

from equipment_rentals.models import RentalContract
from equipment_rentals.validation import currency_problem, period_problems


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
        problem = currency_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
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

        problems = period_problems(
            RentalContract.objects.all(),
            current("machine"),
            current("on_rent"),
            current("off_rent"),
            getattr(self.instance, "pk", None),
        )
        if problems:
            raise serializers.ValidationError(problems)
        return data
