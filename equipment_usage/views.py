"""HTTP API of the usage service: one APIView per operation, nested input/output serializers."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import GROUP_FIELDS
from equipment_usage.repository_queries import UsageFilter
from telemetry_site.api import (
    ERROR_RESPONSES,
    TIMESTAMP_SCHEMA,
    ErrorOut,
    PagedInputSerializer,
    TimestampField,
    TimestampParameter,
    paged_response,
    paginated,
    query_parameters,
)


def usage_repository() -> UsageRepository:
    from telemetry_site.backends import repositories

    return repositories["usage"]


class UsageGroupOut(serializers.Serializer):
    key = serializers.CharField(help_text="The day (YYYY-MM-DD), point of interest or identifier")
    hours = serializers.FloatField()
    km = serializers.FloatField()
    cost = serializers.FloatField(allow_null=True, help_text="Null when no part of it could be priced")
    currencies = serializers.ListField(child=serializers.CharField())
    deltas = serializers.IntegerField(help_text="Day parts of deltas summed")
    unpriced = serializers.IntegerField(help_text="Of those, how many had no price (no registry rates)")


class UsageSearchView(APIView):
    """Hours, km and cost of daily usage per day, point of interest or machine, with totals.

    ``from`` and ``to`` are local dates (``USAGE_TIME_ZONE``), inclusive. ``poi=unassigned`` selects
    usage outside every point of interest.
    """

    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(required=False, max_length=200)
        poi = serializers.CharField(required=False, max_length=200)
        group_by = serializers.ChoiceField(choices=sorted(GROUP_FIELDS), required=False, default="day")

        def get_fields(self) -> dict:
            fields = super().get_fields()
            fields["from"] = serializers.DateField(required=False)
            fields["to"] = serializers.DateField(required=False)
            return fields

        def validate(self, data: dict) -> dict:
            if "from" in data and "to" in data and data["from"] > data["to"]:
                raise serializers.ValidationError({"to": "Must not be before 'from'."})
            return data

    class OutputSerializer(serializers.Serializer):
        group_by = serializers.CharField()
        results = UsageGroupOut(many=True)
        totals = UsageGroupOut()

    @extend_schema(
        operation_id="usage_search",
        parameters=[
            InputSerializer,
            OpenApiParameter("from", OpenApiTypes.DATE, description="first local date, inclusive"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last local date, inclusive"),
        ],
        responses={200: OutputSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        filters = UsageFilter(
            identifier=data.get("identifier"),
            poi=data.get("poi"),
            date_from=data["from"].isoformat() if "from" in data else None,
            date_to=data["to"].isoformat() if "to" in data else None,
        )
        groups = usage_repository().search(filters, data["group_by"])
        return Response(
            self.OutputSerializer({"group_by": data["group_by"], "results": groups, "totals": totals(groups)}).data
        )


def totals(groups: list[dict]) -> dict:
    priced = [g["cost"] for g in groups if g["cost"] is not None]
    return {
        "key": "total",
        "hours": sum(g["hours"] for g in groups),
        "km": sum(g["km"] for g in groups),
        "cost": sum(priced) if priced else None,
        "currencies": sorted({c for g in groups for c in g["currencies"]}),
        "deltas": sum(g["deltas"] for g in groups),
        "unpriced": sum(g["unpriced"] for g in groups),
    }


class LastReadingOut(serializers.Serializer):
    identifier = serializers.CharField()
    timestamp = TimestampField()
    hours = serializers.FloatField(allow_null=True)
    hours_at = TimestampField(allow_null=True)
    km = serializers.FloatField(allow_null=True)
    km_at = TimestampField(allow_null=True)
    pois = serializers.ListField(child=serializers.CharField())


class LastDataView(APIView):
    """The reference reading of every machine (its newest processed reading), by identifier, paged."""

    @extend_schema(
        operation_id="usage_last_readings",
        parameters=[PagedInputSerializer],
        # 404: a page past the last one ("Invalid page."), DRF's paginator convention.
        responses={200: paginated(LastReadingOut, "LastReadingPage"), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        PagedInputSerializer(data=query_parameters(request)).is_valid(raise_exception=True)
        repository = usage_repository()
        return paged_response(request, self, repository.count_references, repository.find_references, LastReadingOut)


class ReadingOut(serializers.Serializer):
    timestamp = TimestampField()
    hours = serializers.FloatField(allow_null=True)
    km = serializers.FloatField(allow_null=True)
    pois = serializers.ListField(child=serializers.CharField())


class SourceOut(serializers.Serializer):
    source = serializers.CharField()
    share = serializers.FloatField()
    hours = serializers.FloatField(allow_null=True)
    km = serializers.FloatField(allow_null=True)
    cost = serializers.FloatField(allow_null=True)


class DayOut(serializers.Serializer):
    date = serializers.CharField()
    start = TimestampField()
    end = TimestampField()
    hours = serializers.FloatField(allow_null=True)
    km = serializers.FloatField(allow_null=True)
    cost = serializers.FloatField(allow_null=True)
    sources = SourceOut(many=True)


class DeltaOut(serializers.Serializer):
    interval_start = TimestampField(allow_null=True)
    interval_end = TimestampField()
    start = ReadingOut(allow_null=True)
    end = ReadingOut()
    hours = serializers.FloatField(allow_null=True)
    km = serializers.FloatField(allow_null=True)
    counted = serializers.BooleanField()
    flags = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField(allow_null=True)
    days = DayOut(many=True)


class MachineDeltasView(APIView):
    """A machine's ledger: every reading's entry (counted deltas, and first, too-late, reset or
    implausible readings with their flags), by interval end, paged. ``from``/``to`` bound the
    interval end, inclusive."""

    class InputSerializer(PagedInputSerializer):
        def get_fields(self) -> dict:
            fields = super().get_fields()
            fields["from"] = TimestampParameter(required=False)
            fields["to"] = TimestampParameter(required=False)
            return fields

        def validate(self, data: dict) -> dict:
            if "from" in data and "to" in data and data["from"] > data["to"]:
                raise serializers.ValidationError({"to": "Must not be before 'from'."})
            return data

    @extend_schema(
        operation_id="usage_machine_deltas",
        parameters=[
            PagedInputSerializer,
            OpenApiParameter("from", TIMESTAMP_SCHEMA, description="ISO 8601 or epoch ms: interval end at or after"),
            OpenApiParameter("to", TIMESTAMP_SCHEMA, description="ISO 8601 or epoch ms: interval end at or before"),
        ],
        responses={200: paginated(DeltaOut, "UsageDeltaPage"), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request, identifier: str) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        start, end = params.validated_data.get("from"), params.validated_data.get("to")
        repository = usage_repository()
        return paged_response(
            request,
            self,
            lambda: repository.count_entries(identifier, start, end),
            lambda skip, limit: repository.find_entries(identifier, start, end, skip, limit),
            DeltaOut,
        )
