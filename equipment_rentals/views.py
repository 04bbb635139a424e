"""HTTP API of rental contracts and statements: thin views over serializers and statements.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_rentals import exports
from equipment_rentals.models import RentalContract
from equipment_rentals.renderers import CSVFileRenderer, XLSXFileRenderer
from equipment_rentals.serializers import ContractSerializer
from equipment_rentals.statements import export_rows, issued_statement, live_statement, usage_source
from telemetry_site.api import (
    ERROR_RESPONSES,
    WRITE_ERRORS,
    ErrorOut,
    ParameterErrorsOut,
    TimestampParameter,
    ms_to_iso,
    query_parameters,
)
from telemetry_site.renderers import JSONRenderer


def contract_or_404(pk: str) -> RentalContract:
    """The contract with id ``pk``; a 404 (JSON) for anything else, a non-number included (the
    path takes any text, so that a bad id is the API's 404, not the URL resolver's HTML page)."""
    if not pk.isascii() or not pk.isdigit() or len(pk) > 18:
        raise NotFound("No such contract.")
    return get_object_or_404(RentalContract, pk=int(pk))


class ContractsView(APIView):
    """List contracts (GET) or create one (POST)."""

    @extend_schema(operation_id="rentals_list", responses={200: ContractSerializer(many=True), **ERROR_RESPONSES})
    def get(self, request: Request) -> Response:
        return Response(ContractSerializer(RentalContract.objects.all(), many=True).data)

    @extend_schema(
        operation_id="rentals_create",
        request=ContractSerializer,
        responses={201: ContractSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = ContractSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class ContractView(APIView):
    """One contract: read, replace, change (a backdated change issues a new statement version on the
    next ``refresh_rental_statements``), delete."""

    @extend_schema(operation_id="rentals_read", responses={200: ContractSerializer, 404: ErrorOut, **ERROR_RESPONSES})
    def get(self, request: Request, pk: str) -> Response:
        return Response(ContractSerializer(contract_or_404(pk)).data)

    @extend_schema(
        operation_id="rentals_replace",
        request=ContractSerializer,
        responses={200: ContractSerializer, 404: ErrorOut, **WRITE_ERRORS},
    )
    def put(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, partial=False)

    @extend_schema(
        operation_id="rentals_change",
        request=ContractSerializer,
        responses={200: ContractSerializer, 404: ErrorOut, **WRITE_ERRORS},
    )
    def patch(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, partial=True)

    def _update(self, request: Request, pk: str, partial: bool) -> Response:
        serializer = ContractSerializer(contract_or_404(pk), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    @extend_schema(
        operation_id="rentals_delete", responses={204: None, 404: ErrorOut, 409: ErrorOut, **ERROR_RESPONSES}
    )
    def delete(self, request: Request, pk: str) -> Response:
        contract = contract_or_404(pk)
        if contract.statements.exists():
            return Response(
                {"detail": "The contract has issued statements; end it with off_rent instead."},
                status=status.HTTP_409_CONFLICT,
            )
        contract.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class StatementView(APIView):
    """A contract's statement: the newest issued version (closed periods), ``?version=`` an older
    one, or ``?live=true`` computed now with the running period (version null, not issued)."""

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
        live = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="rentals_statement",
        parameters=[InputSerializer],
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def get(self, request: Request, pk: str) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        contract = contract_or_404(pk)
        if params.validated_data["live"]:
            return Response(live_statement(contract, datetime.now(UTC)))
        body = issued_statement(contract, params.validated_data.get("version"))
        if body is None:
            return Response({"version": ["No such statement version issued."]}, status=status.HTTP_404_NOT_FOUND)
        return Response(body)


class ExportInput(serializers.Serializer):
    def get_fields(self) -> dict:
        return {
            "from": serializers.DateField(help_text="first local date of period starts, inclusive"),
            "to": serializers.DateField(help_text="last local date of period starts, inclusive"),
            "format": serializers.ChoiceField(choices=["csv", "xlsx"]),
        }

    def validate(self, data: dict) -> dict:
        if data["from"] > data["to"]:
            raise serializers.ValidationError({"to": "Must not be before 'from'."})
        return data


# A file view's errors are JSON whatever the format asked (FileView.finalize_response).
FILE_ERRORS = {
    (400, "application/json"): ParameterErrorsOut,
    (401, "application/json"): ErrorOut,
    (403, "application/json"): ErrorOut,
    (503, "application/json"): ErrorOut,
}


class FileView(APIView):
    """A view answering with a file; its errors (400 naming a parameter) are JSON whatever ``format``."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class ExportView(FileView):
    """One row per issued period line (newest version of each contract) whose period starts on a
    local date in ``from``..``to``, as CSV or XLSX."""

    renderer_classes = [CSVFileRenderer, XLSXFileRenderer]

    @extend_schema(
        operation_id="rentals_export",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
            OpenApiParameter("format", str, enum=["csv", "xlsx"], required=True),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, XLSXFileRenderer.media_type): OpenApiTypes.BINARY,
            **FILE_ERRORS,
        },
    )
    def get(self, request: Request) -> HttpResponse | Response:
        params = ExportInput(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        first, last = params.validated_data["from"].isoformat(), params.validated_data["to"].isoformat()
        rows = export_rows(params.validated_data["from"], params.validated_data["to"])
        if len(rows) > settings.RENTALS_EXPORT_MAX_ROWS:
            raise serializers.ValidationError(
                {"from": [f"More than {settings.RENTALS_EXPORT_MAX_ROWS} rows; narrow from/to."]}
            )
        if params.validated_data["format"] == "xlsx":
            body, kind = exports.lines_xlsx(rows), XLSXFileRenderer.media_type
        else:
            body, kind = exports.lines_csv(rows), CSVFileRenderer.media_type
        response = HttpResponse(body, content_type=kind)
        response["Content-Disposition"] = (
            f'attachment; filename="rentals-{first}-{last}.{params.validated_data["format"]}"'
        )
        return response


class MeterReadingsView(FileView):
    """Engine-hour readings (machine, reading_time, hours_tot) with ``from <= time < to``, as CSV."""

    renderer_classes = [CSVFileRenderer]

    class InputSerializer(serializers.Serializer):
        machine = serializers.CharField(required=False, max_length=200)

        def get_fields(self) -> dict:
            fields = super().get_fields()
            fields["from"] = TimestampParameter()
            fields["to"] = TimestampParameter()
            return fields

        def validate(self, data: dict) -> dict:
            if data["from"] >= data["to"]:
                raise serializers.ValidationError({"to": "Must be after 'from'."})
            return data

    @extend_schema(
        operation_id="rentals_meter_readings",
        parameters=[InputSerializer],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, **FILE_ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        limit = settings.RENTALS_EXPORT_MAX_ROWS
        readings = usage_source().readings(data.get("machine"), data["from"], data["to"], limit + 1)
        if len(readings) > limit:
            raise serializers.ValidationError({"from": [f"More than {limit} readings; narrow from/to."]})
        rows = [{**r, "reading_time": ms_to_iso(r["timestamp"])} for r in readings]
        response = HttpResponse(exports.meter_csv(rows), content_type=CSVFileRenderer.media_type)
        response["Content-Disposition"] = 'attachment; filename="meter-readings.csv"'
        return response
