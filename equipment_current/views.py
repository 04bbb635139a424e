"""HTTP API of the current-state service: one APIView per operation, nested input/output serializers."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_current.business import is_stale
from equipment_current.repository import CurrentStateRepository, FleetFilter
from telemetry_site.api import (
    ERROR_RESPONSES,
    ErrorOut,
    PagedInputSerializer,
    TimestampField,
    TimestampParameter,
    paged_response,
    paginated,
    query_parameters,
)


def current_state_repository() -> CurrentStateRepository:
    from telemetry_site.backends import repositories

    return repositories["current_state"]


class BaseOut(serializers.Serializer):
    code = serializers.CharField()
    at = TimestampField()


class DescriptionOut(serializers.Serializer):
    brand = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    at = TimestampField()


class PositionOut(serializers.Serializer):
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    address = serializers.CharField(allow_null=True)
    at = TimestampField()


class PointsOfInterestOut(serializers.Serializer):
    names = serializers.ListField(child=serializers.CharField())
    at = TimestampField()


class EngineHoursOut(serializers.Serializer):
    hours_tot = serializers.FloatField()
    at = TimestampField()


class OdometerOut(serializers.Serializer):
    km_tot = serializers.FloatField()
    at = TimestampField()


class EngineOut(serializers.Serializer):
    running = serializers.BooleanField()
    at = TimestampField()


class FuelOut(serializers.Serializer):
    used_tot_l = serializers.FloatField(allow_null=True)
    level_pct = serializers.FloatField(allow_null=True)
    at = TimestampField()


class MachineStateOut(serializers.Serializer):
    """A machine's state; a section the machine never reported is null. ``at`` is its event time."""

    identifier = serializers.CharField()
    last_event_at = TimestampField()
    stale = serializers.SerializerMethodField()
    base = BaseOut(allow_null=True)
    description = DescriptionOut(allow_null=True)
    position = PositionOut(allow_null=True)
    points_of_interest = PointsOfInterestOut(allow_null=True)
    engine_hours = EngineHoursOut(allow_null=True)
    odometer = OdometerOut(allow_null=True)
    engine = EngineOut(allow_null=True)
    fuel = FuelOut(allow_null=True)

    def get_stale(self, state: dict) -> bool:
        return is_stale(state.get("last_event_at"), self.context["now_ms"], self.context["stale_minutes"])


def output_context() -> dict[str, Any]:
    return {"now_ms": int(time.time() * 1000), "stale_minutes": settings.CURRENT_STALE_MINUTES}


class FleetSnapshotView(APIView):
    """The latest state of every machine, ordered by identifier, paged.

    Filters combine with AND. ``stale_minutes=N`` keeps only machines silent for more than N
    minutes; ``updated_since`` only those with an event at or after that instant.
    """

    class InputSerializer(PagedInputSerializer):
        brand = serializers.CharField(required=False, max_length=200)
        model = serializers.CharField(required=False, max_length=200)
        poi = serializers.CharField(required=False, max_length=200)
        updated_since = TimestampParameter(required=False)
        stale_minutes = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)
        bbox = serializers.CharField(required=False, help_text="minLon,minLat,maxLon,maxLat (WGS84)")

        def validate_bbox(self, value: str) -> tuple[float, float, float, float]:
            try:
                min_lon, min_lat, max_lon, max_lat = (float(part) for part in value.split(","))
            except ValueError:
                raise serializers.ValidationError("Expected four numbers: minLon,minLat,maxLon,maxLat.") from None
            if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
                raise serializers.ValidationError(
                    "Need -180 <= minLon <= maxLon <= 180 and -90 <= minLat <= maxLat <= 90."
                )
            return min_lon, min_lat, max_lon, max_lat

    @extend_schema(
        parameters=[InputSerializer],
        # 404: a page past the last one ("Invalid page."), DRF's paginator convention.
        responses={200: paginated(MachineStateOut, "FleetPage"), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        context = output_context()
        stale_minutes = data.get("stale_minutes")
        filters = FleetFilter(
            brand=data.get("brand"),
            model=data.get("model"),
            poi=data.get("poi"),
            updated_since=data.get("updated_since"),
            stale_before=None if stale_minutes is None else context["now_ms"] - stale_minutes * 60_000,
            bbox=data.get("bbox"),
        )
        repository = current_state_repository()
        return paged_response(
            request,
            self,
            lambda: repository.count(filters),
            lambda skip, limit: repository.find(filters, skip, limit),
            MachineStateOut,
            context,
        )


class MachineStateView(APIView):
    """The latest state of one machine; 404 if it never reported."""

    @extend_schema(operation_id="current_machine", responses={200: MachineStateOut, 404: ErrorOut, **ERROR_RESPONSES})
    def get(self, request: Request, identifier: str) -> Response:
        state = current_state_repository().get(identifier)
        if state is None:
            raise NotFound(f"No machine {identifier!r} has reported.")
        return Response(MachineStateOut(state, context=output_context()).data)
