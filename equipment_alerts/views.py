"""HTTP API of alerts: rules (SQL) and alerts (MongoDB, written by the alert consumer). One APIView
per operation, nested input/output serializers."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_alerts.business import KINDS
from equipment_alerts.business_lifecycle import CLOSED, OPEN
from equipment_alerts.models import AlertRule
from equipment_alerts.repository import AlertRepository
from equipment_alerts.serializers import RuleSerializer
from telemetry_site.api import (
    ERROR_RESPONSES,
    WRITE_ERRORS,
    ErrorOut,
    PagedInputSerializer,
    ms_to_iso,
    paged_response,
    paginated,
    query_parameters,
)


def alert_repository() -> AlertRepository:
    from telemetry_site.backends import repositories

    return repositories["alerts"]


class RulesView(APIView):
    """Alert rules: GET lists them, POST creates one (a 400 names each offending field)."""

    OutputSerializer = RuleSerializer
    # JSON only: an HTML form's empty field means null to DRF, so "" for a time would pass as "no time".
    parser_classes = [JSONParser]

    @extend_schema(operation_id="alert_rules_list", responses={200: RuleSerializer(many=True), **ERROR_RESPONSES})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(AlertRule.objects.all(), many=True).data)

    @extend_schema(
        operation_id="alert_rules_create", request=RuleSerializer, responses={201: RuleSerializer, **WRITE_ERRORS}
    )
    def post(self, request: Request) -> Response:
        body = RuleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = body.save()
        return Response(self.OutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class AlertOut(serializers.Serializer):
    id = serializers.CharField(source="_id")
    machine = serializers.CharField()
    rule = serializers.CharField(help_text="rule:<id> of a configured rule, builtin:<kind> of a built-in one")
    kind = serializers.CharField()
    state = serializers.ChoiceField(choices=[OPEN, CLOSED])
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    value = serializers.FloatField(help_text="In the kind's unit (docs/ALERTS.md)")
    detail = serializers.CharField(allow_blank=True)
    withdrawn = serializers.BooleanField(help_text="A late reading removed the condition")
    acked_at = serializers.SerializerMethodField()
    acked_by = serializers.CharField(allow_null=True, default=None)

    def get_start(self, document: dict) -> str | None:
        return ms_to_iso(document.get("start"))

    def get_end(self, document: dict) -> str | None:
        return ms_to_iso(document.get("end"))

    def get_acked_at(self, document: dict) -> str | None:
        return ms_to_iso(document.get("acked_at"))


class AlertsView(APIView):
    """Alerts, newest start first, paged; filtered by state, machine and rule (a kind such as
    ``after_hours``, or a configured rule's id)."""

    class InputSerializer(PagedInputSerializer):
        state = serializers.ChoiceField(choices=[OPEN, CLOSED], required=False)
        machine = serializers.CharField(required=False, max_length=200)
        rule = serializers.CharField(
            required=False,
            max_length=40,
            help_text="A kind (any rule of it), a rule id, or an alert's own rule field (rule:<id>, builtin:<kind>)",
        )

        def validate_rule(self, value: str) -> dict[str, str]:
            # An alert's ``rule`` field is accepted as it is listed: a client filters by what it read.
            prefix, colon, rest = value.partition(":")
            if not colon:
                prefix, rest = "kind or id", value
            if prefix == "builtin" and rest in KINDS:
                return {"rule": value}
            if prefix in ("rule", "kind or id") and rest.isascii() and rest.isdigit() and len(rest) <= 18:
                return {"rule": f"rule:{int(rest)}"}
            if prefix == "kind or id" and rest in KINDS:
                return {"kind": rest}
            raise serializers.ValidationError(
                f"A kind ({', '.join(KINDS)}), a rule id, or an alert's rule (rule:<id>, builtin:<kind>)."
            )

    @extend_schema(
        operation_id="alerts_list",
        parameters=[InputSerializer],
        # 404: a page past the last one ("Invalid page."), DRF's paginator convention.
        responses={200: paginated(AlertOut, "AlertPage"), 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data: dict[str, Any] = params.validated_data
        rule = data.get("rule") or {}
        repository = alert_repository()
        query = repository.query(data.get("state"), data.get("machine"), rule.get("rule"), rule.get("kind"))
        return paged_response(
            request,
            self,
            lambda: repository.count(query),
            lambda skip, limit: repository.find(query, skip, limit),
            AlertOut,
        )


class AcknowledgeView(APIView):
    """Acknowledge an alert: who and when are kept (the first acknowledgement wins)."""

    @extend_schema(
        operation_id="alerts_acknowledge", request=None, responses={200: AlertOut, 404: ErrorOut, **WRITE_ERRORS}
    )
    def post(self, request: Request, alert_id: str) -> Response:
        if len(alert_id) > 64:
            raise NotFound("No such alert.")
        user = getattr(request.user, "username", "") or "anonymous"
        document = alert_repository().acknowledge(alert_id, user, int(time.time() * 1000))
        if document is None:
            raise NotFound("No such alert.")
        return Response(AlertOut(document).data)
