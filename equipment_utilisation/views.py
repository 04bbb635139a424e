"""HTTP API of utilisation: one APIView per operation, nested input/output serializers; the work is
``queries``'s."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_utilisation.business_calendar import GROUPINGS
from equipment_utilisation.queries import machine_timeline, utilisation_summaries
from telemetry_site.api import ERROR_RESPONSES, ErrorOut, query_parameters
from telemetry_site.renderers import JSONRenderer

SUMMARY_FIELDS = (
    "machine",
    "period_start",
    "period_end",
    "machine_class",
    "site",
    "days",
    "days_reported",
    "engine_hours",
    "available_hours",
    "utilisation_pct",
    "calendar_utilisation_pct",
    "working_hours",
    "idle_hours",
    "stationary_hours",
    "off_hours",
    "no_data_hours",
    "idle_pct",
    "fuel_l",
    "fuel_l_per_h",
    "idle_runs_3_6",
    "idle_runs_6_9",
    "idle_runs_over_9",
)


class CSVRenderer(BaseRenderer):
    """``results`` as CSV, one summary per line; an error answer (no ``results``) stays JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if not isinstance(data, dict) or "results" not in data:
            if renderer_context and renderer_context.get("response") is not None:
                renderer_context["response"]["Content-Type"] = JSONRenderer.media_type
            return JSONRenderer().render(data)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=SUMMARY_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(data["results"])
        return out.getvalue().encode()


class SummaryOut(serializers.Serializer):
    machine = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="The period clipped to from..to")
    machine_class = serializers.CharField()
    site = serializers.CharField(help_text="Where the machine reported longest (its latest day), or off-site")
    days = serializers.IntegerField(help_text="Calendar days of the period inside from..to")
    days_reported = serializers.IntegerField()
    engine_hours = serializers.FloatField()
    available_hours = serializers.FloatField(help_text="Shift calendar hours of every day, reported or not")
    utilisation_pct = serializers.FloatField(allow_null=True, help_text="engine / available hours; may exceed 100")
    calendar_utilisation_pct = serializers.FloatField(allow_null=True, help_text="engine hours / 24 h x days")
    working_hours = serializers.FloatField()
    idle_hours = serializers.FloatField(help_text="Classes judged by motion")
    stationary_hours = serializers.FloatField(help_text="Classes judged stationary (stationary-running)")
    off_hours = serializers.FloatField()
    no_data_hours = serializers.FloatField()
    idle_pct = serializers.FloatField(allow_null=True)
    fuel_l = serializers.FloatField()
    fuel_l_per_h = serializers.FloatField(allow_null=True, help_text="Null under 0.5 engine hours")
    idle_runs_3_6 = serializers.IntegerField()
    idle_runs_6_9 = serializers.IntegerField()
    idle_runs_over_9 = serializers.IntegerField()


class UtilisationView(APIView):
    """Utilisation per machine and day, ISO week or month of local dates ``from``..``to``
    (docs/UTILISATION.md has the definitions); ``format=csv`` for a file."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    class InputSerializer(serializers.Serializer):
        group_by = serializers.ChoiceField(choices=GROUPINGS, required=False, default="day")
        site = serializers.CharField(required=False, max_length=200)
        machine = serializers.CharField(required=False, max_length=200)
        format = serializers.ChoiceField(choices=["json", "csv"], required=False)

        def get_fields(self) -> dict:
            fields = super().get_fields()
            fields["from"] = serializers.DateField()
            fields["to"] = serializers.DateField()
            return fields

        def validate(self, data: dict) -> dict:
            if data["from"] > data["to"]:
                raise serializers.ValidationError({"to": ["Must not be before 'from'."]})
            if (data["to"] - data["from"]).days >= settings.UTILISATION_MAX_DAYS:
                raise serializers.ValidationError(
                    {"to": [f"At most {settings.UTILISATION_MAX_DAYS} days from 'from'."]}
                )
            return data

    class OutputSerializer(serializers.Serializer):
        group_by = serializers.CharField()
        results = SummaryOut(many=True)

        class Meta:
            ref_name = "UtilisationSearchOut"  # drf-spectacular names components by class otherwise

    @extend_schema(
        operation_id="utilisation_search",
        parameters=[
            InputSerializer,
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="first local date, inclusive"),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="last local date, inclusive"),
        ],
        responses={200: OutputSerializer, (200, "text/csv"): OpenApiTypes.BINARY, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        results = utilisation_summaries(
            data["from"].isoformat(), data["to"].isoformat(), data["group_by"], data.get("site"), data.get("machine")
        )
        # ``results`` are already the documented shape (``queries.summary_record``): passing them
        # through OutputSerializer again cost a second per 6,000 summaries; it stays the schema.
        response = Response({"group_by": data["group_by"], "results": results})
        if data.get("format") == "csv":
            name = f"utilisation-{data['from']}-{data['to']}-{data['group_by']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class RunOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=["working", "idle", "stationary_running", "off", "no_data"])
    start = serializers.CharField(help_text="Local time, ISO 8601 with offset")
    end = serializers.CharField()
    hours = serializers.FloatField()


class TimelineView(APIView):
    """A machine's local day as runs of working, idle (or stationary-running), off and no data."""

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField()

    class OutputSerializer(serializers.Serializer):
        machine = serializers.CharField()
        date = serializers.DateField()
        zone = serializers.CharField()
        machine_class = serializers.CharField()
        runs = RunOut(many=True)

        class Meta:
            ref_name = "UtilisationTimelineOut"

    @extend_schema(
        operation_id="utilisation_timeline",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request, machine: str) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        body = machine_timeline(machine, params.validated_data["date"].isoformat())
        if body is None:
            raise NotFound("No utilisation for this machine.")
        return Response(self.OutputSerializer(body).data)
