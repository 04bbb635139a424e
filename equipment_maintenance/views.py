"""HTTP API of maintenance: one APIView per operation, nested input/output serializers."""

from __future__ import annotations

from datetime import date

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_maintenance.clock import today
from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord, TemplateAssignment
from equipment_maintenance.plans import fleet_plans, machine_plans, record_service, repository
from telemetry_site.api import (
    ERROR_RESPONSES,
    WRITE_ERRORS,
    ErrorOut,
    PagedInputSerializer,
    paged_response,
    paginated,
    query_parameters,
)


class TemplateOut(serializers.ModelSerializer):
    class Meta:
        model = MaintenanceTemplate
        fields = [
            "id",
            "name",
            "interval_hours",
            "interval_days",
            "first_due_hours",
            "anchor",
            "due_soon_fraction",
            "applies_to_model",
            "applies_to_class",
        ]


class TemplatesView(APIView):
    """Maintenance templates (one per plan tier): GET lists them, POST creates one.

    List and create share the URL as in equipment_connectors; zero or negative intervals and
    unknown fields are refused with a 400 naming the field.
    """

    class InputSerializer(serializers.ModelSerializer):
        # Bounded above too: an unbounded FloatField takes Infinity, which no JSON answer can carry.
        interval_hours = serializers.FloatField(min_value=0.001, max_value=1_000_000)
        first_due_hours = serializers.FloatField(min_value=0, max_value=10_000_000, required=False, allow_null=True)
        interval_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        due_soon_fraction = serializers.FloatField(min_value=0, max_value=1, required=False)

        class Meta:
            model = MaintenanceTemplate
            fields = [f for f in TemplateOut.Meta.fields if f != "id"]

        def to_internal_value(self, data: object) -> dict:
            if isinstance(data, dict):
                unknown = sorted(set(data) - set(self.fields))
                if unknown:
                    raise serializers.ValidationError({name: "Unknown field." for name in unknown})
            return super().to_internal_value(data)

    OutputSerializer = TemplateOut

    @extend_schema(
        operation_id="maintenance_templates_list", responses={200: OutputSerializer(many=True), **ERROR_RESPONSES}
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(MaintenanceTemplate.objects.order_by("name"), many=True).data)

    @extend_schema(
        operation_id="maintenance_templates_create",
        request=InputSerializer,
        responses={201: OutputSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = body.save()
        return Response(self.OutputSerializer(template).data, status=status.HTTP_201_CREATED)


# -- plan status of the fleet and of one machine ---------------------------------------------------

STATUS_CHOICES = ["ok", "due_soon", "due", "overdue", "unknown"]
ORDERING_CHOICES = ["machine", "forecast_date", "-forecast_date"]


class PlanOut(serializers.Serializer):
    """One template assigned to one machine, judged at the machine's engine hours on today's date."""

    class LastServiceOut(serializers.Serializer):
        hours = serializers.FloatField()
        date = serializers.DateField()

    machine = serializers.CharField()
    template_id = serializers.IntegerField()
    template = serializers.CharField()
    engine_hours = serializers.FloatField(allow_null=True, help_text="current engine hours; null if none reported")
    status = serializers.ChoiceField(choices=STATUS_CHOICES, help_text="unknown: no engine hours reported")
    due_hours = serializers.FloatField()
    hours_left = serializers.FloatField(allow_null=True)
    overdue_by = serializers.FloatField(allow_null=True)
    due_date = serializers.DateField(allow_null=True, help_text="by interval days, if the template has them")
    forecast_date = serializers.DateField(
        allow_null=True, help_text="today + hours left / average daily hours of the last 30 days, or the due date"
    )
    average_daily_hours = serializers.FloatField()
    cycle = serializers.IntegerField(help_text="services done")
    last_service = LastServiceOut(allow_null=True)


class FleetMaintenanceView(APIView):
    """Every assigned plan of the fleet, paged like the fleet snapshot: ``?status=`` keeps one
    status, ``?ordering=forecast_date`` sorts by forecast date (plans without one last). A bad value
    is a 400 naming the parameter; a page past the last one a 404 (DRF's paginator)."""

    class InputSerializer(PagedInputSerializer):
        status = serializers.ChoiceField(choices=STATUS_CHOICES, required=False)
        ordering = serializers.ChoiceField(choices=ORDERING_CHOICES, required=False, default="machine")

    OutputSerializer = PlanOut

    @extend_schema(
        operation_id="maintenance_fleet",
        parameters=[InputSerializer],
        responses={200: paginated(PlanOut, "MaintenancePage"), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        # Every row is computed (the forecast order needs them all); only a page is serialized.
        rows = fleet_plans(today(), params.validated_data.get("status"), params.validated_data["ordering"])
        return paged_response(
            request, self, lambda: len(rows), lambda skip, limit: rows[skip : skip + limit], self.OutputSerializer
        )


class MachineMaintenanceView(APIView):
    """One machine's plans; 404 when the machine never reported (unknown to the current state)."""

    OutputSerializer = PlanOut

    @extend_schema(
        operation_id="maintenance_machine",
        responses={200: OutputSerializer(many=True), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request, machine: str) -> Response:
        rows = machine_plans(machine, today())
        if rows is None:
            raise NotFound(f"No machine {machine!r} has reported.")
        return Response(self.OutputSerializer(rows, many=True).data)


# Named at module level: drf-spectacular names components by class name, and nested
# "InputSerializer"/"OutputSerializer" classes of two views would clash.
class ServiceRecordIn(serializers.Serializer):
    template = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    # Bounded above: an unbounded FloatField takes Infinity, which no JSON answer can carry.
    hours = serializers.FloatField(min_value=0, max_value=10_000_000)
    date = serializers.DateField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def to_internal_value(self, data: object) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return super().to_internal_value(data)

    def validate_date(self, value: date) -> date:
        if value > today():
            raise serializers.ValidationError("A service cannot be recorded in the future.")
        return value


class ServiceRecordOut(serializers.ModelSerializer):
    class Meta:
        model = ServiceRecord
        fields = ["id", "machine", "template", "hours", "date", "note"]


class ServiceRecordsView(APIView):
    """Record a service done on a machine for one of its templates; emits DONE on MAINTENANCE_TOPIC.

    An unknown machine (never reported), a template not assigned to it, negative hours or a date
    after today are 400s naming the field.
    """

    InputSerializer = ServiceRecordIn
    OutputSerializer = ServiceRecordOut

    @extend_schema(
        operation_id="maintenance_service_record_create",
        request=InputSerializer,
        responses={201: OutputSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, machine: str) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if repository("current_state").get(machine) is None:
            raise serializers.ValidationError({"machine": f"No machine {machine!r} has reported."})
        data = body.validated_data
        assignment = TemplateAssignment.objects.filter(machine=machine, template_id=data["template"]).first()
        if assignment is None:
            raise serializers.ValidationError({"template": "No such template assigned to this machine."})
        record = record_service(machine, data["template"], data["hours"], data["date"], data["note"])
        return Response(self.OutputSerializer(record).data, status=status.HTTP_201_CREATED)
