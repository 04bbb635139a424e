"""HTTP API of maintenance: one APIView per operation, nested input/output serializers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_maintenance.models import MaintenanceTemplate
from telemetry_site.api import ERROR_RESPONSES, WRITE_ERRORS


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
