"""``/api/v1/connectors/``: the connectors (staff only: they hold credentials) and their health.

Secrets are write-only: a client sends ``client_secret``, ``password`` or ``refresh_token`` and never
gets them back; the answer says only whether each is set (``secrets_set``). Leaving a secret out of
a PATCH keeps the stored one.
"""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_connectors.models import SECRET_FIELDS, Connector, ConnectorStatus
from telemetry_site.api import ERROR_RESPONSES, ErrorOut

ONE_RESPONSES = {**ERROR_RESPONSES, 404: ErrorOut}

PUBLIC_FIELDS = (
    "id",
    "name",
    "maker",
    "base_url",
    "fleet_path",
    "format",
    "auth_type",
    "token_url",
    "client_id",
    "username",
    "scope",
    "poll_seconds",
    "request_budget",
    "identifier_prefix",
    "enabled",
)


def connector_or_404(pk: str) -> Connector:
    """The connector ``pk`` (digits in the path), or a JSON 404 naming it."""
    connector = (
        Connector.objects.filter(pk=int(pk)).first() if pk.isascii() and pk.isdigit() and len(pk) <= 18 else None
    )
    if connector is None:
        raise NotFound(f"No connector {pk!r}.")
    return connector


class ConnectorIn(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = [name for name in PUBLIC_FIELDS if name != "id"] + list(SECRET_FIELDS)
        extra_kwargs = {name: {"write_only": True} for name in SECRET_FIELDS}

    def validate(self, data: dict) -> dict:
        merged = {**({f: getattr(self.instance, f) for f in self.Meta.fields} if self.instance else {}), **data}
        kind = merged.get("auth_type", "oauth2_client_credentials")
        needed = {
            "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
            "oauth2_refresh_token": ("token_url", "client_id", "refresh_token"),
            "oauth2_password": ("token_url", "client_id", "username", "password"),
            "http_basic": ("username", "password"),
        }.get(kind, ())
        missing = {name: f"required with auth_type {kind}" for name in needed if not merged.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class ConnectorOut(serializers.ModelSerializer):
    secrets_set = serializers.SerializerMethodField(help_text="Which secrets are stored (their values never leave)")

    class Meta:
        model = Connector
        fields = [*PUBLIC_FIELDS, "secrets_set"]

    def get_secrets_set(self, connector: Connector) -> dict[str, bool]:
        return {name: bool(getattr(connector, name)) for name in SECRET_FIELDS}


class ConnectorHealthOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    healthy = serializers.BooleanField(help_text="Last poll succeeded (no error since the last success)")
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    next_poll_at = serializers.DateTimeField(allow_null=True)
    pages = serializers.IntegerField(help_text="Pages of the last complete poll")
    machines = serializers.IntegerField(help_text="Equipment records of the last complete poll")
    messages = serializers.IntegerField(help_text="Messages the last complete poll published")
    messages_total = serializers.IntegerField()
    budget_used = serializers.IntegerField(help_text="Requests today (UTC)")
    request_budget = serializers.IntegerField()
    unmatched_machines = serializers.IntegerField()


class ConnectorListView(APIView):
    """Every connector (GET); a new one (POST)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: ConnectorOut(many=True), **ERROR_RESPONSES})
    def get(self, request: Request) -> Response:
        return Response(ConnectorOut(Connector.objects.all(), many=True).data)

    @extend_schema(request=ConnectorIn, responses={201: ConnectorOut, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        serializer = ConnectorIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        connector = serializer.save()
        return Response(ConnectorOut(connector).data, status=status.HTTP_201_CREATED)


class ConnectorDetailView(APIView):
    """One connector (GET), changed (PATCH: secrets left out are kept), removed (DELETE)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: ConnectorOut, **ONE_RESPONSES})
    def get(self, request: Request, pk: str) -> Response:
        return Response(ConnectorOut(connector_or_404(pk)).data)

    @extend_schema(request=ConnectorIn, responses={200: ConnectorOut, **ONE_RESPONSES})
    def patch(self, request: Request, pk: str) -> Response:
        serializer = ConnectorIn(connector_or_404(pk), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(ConnectorOut(serializer.save()).data)

    @extend_schema(responses={204: None, **ONE_RESPONSES})
    def delete(self, request: Request, pk: str) -> Response:
        connector_or_404(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorHealthView(APIView):
    """A connector's last success and error, what its last complete poll read and published, and
    how much of today's request budget it used."""

    @extend_schema(responses={200: ConnectorHealthOut, **ONE_RESPONSES})
    def get(self, request: Request, pk: str) -> Response:
        connector = connector_or_404(pk)
        state = ConnectorStatus.objects.filter(connector=connector).first() or ConnectorStatus(connector=connector)
        healthy = state.last_success_at is not None and (
            state.last_error_at is None or state.last_error_at <= state.last_success_at
        )
        today = dt.datetime.now(dt.UTC).date()
        data = {
            "id": connector.pk,
            "name": connector.name,
            "enabled": connector.enabled,
            "healthy": healthy,
            "request_budget": connector.request_budget,
            "unmatched_machines": connector.unmatched.count(),
            **{
                name: getattr(state, name)
                for name in (
                    "last_success_at",
                    "last_error",
                    "last_error_at",
                    "next_poll_at",
                    "pages",
                    "machines",
                    "messages",
                    "messages_total",
                )
            },
            "budget_used": state.budget_used if state.budget_day == today else 0,
        }
        return Response(ConnectorHealthOut(data).data)
