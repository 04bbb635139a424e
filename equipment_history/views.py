"""HTTP API of the position-history service: one APIView per operation, nested input serializers."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from equipment_history.business import MS_PER_DAY, MS_PER_MINUTE, day_window
from equipment_history.queries import position_page
from equipment_history.renderers import CSVRenderer, GeoJSONRenderer
from equipment_history.repository import PositionRepository
from telemetry_site.api import (
    ERROR_RESPONSES,
    MAX_TIMESTAMP_MS,
    TIMESTAMP_SCHEMA,
    ErrorOut,
    PagedInputSerializer,
    TimestampField,
    TimestampParameter,
    ms_to_iso,
    paged_response,
    paginated,
    query_parameters,
)
from telemetry_site.renderers import JSONRenderer


def position_repository() -> PositionRepository:
    from telemetry_site.backends import repositories

    return repositories["positions"]


def archive_client() -> Any:
    from telemetry_site.backends import history_archives

    return history_archives["default"]


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_cursor(after: int) -> str:
    """An opaque cursor for the page after the position at ``after`` (epoch ms)."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


# 255 and 256 are both lengths unpadded base64url can have, so the bound is a real one either side.
MAX_CURSOR_LENGTH = 255


class CursorField(serializers.CharField):
    """The ``cursor`` of a ``next`` link; its value is the timestamp the next page starts after."""

    default_error_messages = {"invalid": "Not a cursor from a next link."}

    def to_internal_value(self, data: Any) -> int:
        text = super().to_internal_value(data)
        # The decoder would skip characters outside the alphabet. The bound keeps the JSON decoder's
        # nesting shallow (a real cursor is ~30 characters).
        if len(text) > MAX_CURSOR_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            self.fail("invalid")
        try:
            decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (ValueError, binascii.Error, RecursionError):
            self.fail("invalid")
        after = decoded.get("after") if isinstance(decoded, dict) else None
        # An instant a position can have: a larger int would reach MongoDB, which refuses ints
        # beyond 8 bytes with an error that is no 400.
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_TIMESTAMP_MS:
            self.fail("invalid")
        return after


class HistoricalPositionOut(serializers.Serializer):
    identifier = serializers.CharField()
    timestamp = TimestampField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    address = serializers.CharField(allow_null=True)
    points_of_interest = serializers.ListField(child=serializers.CharField())
    base = serializers.CharField(allow_null=True)


class PositionPageOut(serializers.Serializer):
    identifier = serializers.CharField()
    next = serializers.URLField(allow_null=True)
    archive = serializers.ChoiceField(choices=["not_needed", "merged", "unavailable", "not_configured"])
    archive_detail = serializers.CharField(allow_null=True)
    results = HistoricalPositionOut(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = TimestampField()
        fields["to"] = TimestampField()
        return fields


class TodayPageOut(paginated(HistoricalPositionOut, "TodayPositionsPage")):
    day_from = TimestampField()
    day_to = TimestampField()
    time_zone = serializers.CharField()


class FormatsMixin:
    """JSON, the browsable API, GeoJSON and CSV; errors stay JSON whatever format was asked, so a
    400 still names the parameter (a CSV or GeoJSON error body could not)."""

    def get_renderers(self) -> list[BaseRenderer]:
        return [*super().get_renderers(), GeoJSONRenderer(), CSVRenderer()]

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(getattr(self.request, "accepted_renderer", None), (GeoJSONRenderer, CSVRenderer)):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response


class PositionHistoryView(FormatsMixin, APIView):
    """A machine's positions with ``from <= time < to``, oldest first, in keyset pages.

    ``from`` and ``to`` are ISO 8601 or epoch milliseconds. Follow ``next`` (also sent as a
    ``Link`` header) for the following page: it stays correct while new positions arrive. When the
    range reaches past the retention window, the archive's positions are merged in; ``archive``
    says whether that happened (``merged``), was not needed, is not configured, or failed
    (``unavailable``, with ``archive_detail``): the hot positions are served in every case.
    """

    class InputSerializer(PagedInputSerializer):
        page = None  # keyset pages: a cursor, not a page number
        cursor = CursorField(required=False)

        def get_fields(self) -> dict[str, serializers.Field]:
            # "from" is a Python keyword, so it cannot be declared in the class body.
            fields = super().get_fields()
            fields["from"] = TimestampParameter()
            fields["to"] = TimestampParameter()
            return fields

        def validate(self, attrs: dict) -> dict:
            if attrs["from"] >= attrs["to"]:
                raise serializers.ValidationError({"to": "Must be later than from."})
            max_days = settings.HISTORY_MAX_SPAN_DAYS
            if attrs["to"] - attrs["from"] > max_days * MS_PER_DAY:
                raise serializers.ValidationError({"to": f"The range may span at most {max_days} days."})
            return attrs

    @extend_schema(
        operation_id="history_positions",
        parameters=[
            OpenApiParameter("from", TIMESTAMP_SCHEMA, required=True, description="ISO 8601 or epoch ms, inclusive"),
            OpenApiParameter("to", TIMESTAMP_SCHEMA, required=True, description="ISO 8601 or epoch ms, exclusive"),
            OpenApiParameter("cursor", str, description="opaque; taken from a previous page's next link"),
            OpenApiParameter("page_size", int),
            OpenApiParameter("format", str, enum=["json", "geojson", "csv"]),
        ],
        responses={200: PositionPageOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request, identifier: str) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        data = params.validated_data
        page = position_page(
            position_repository(),
            archive_client(),
            identifier,
            data["from"],
            data["to"],
            after=data.get("cursor"),
            limit=data.get("page_size", settings.API_PAGE_SIZE),
            now_ms=now_ms(),
            overlap_ms=settings.HISTORY_ARCHIVE_OVERLAP_MINUTES * MS_PER_MINUTE,
        )
        next_link = None
        if page.next_after is not None:
            next_link = replace_query_param(request.build_absolute_uri(), "cursor", encode_cursor(page.next_after))
        body = {
            "identifier": identifier,
            "from": ms_to_iso(data["from"]),
            "to": ms_to_iso(data["to"]),
            "archive": page.archive.value,
            "archive_detail": page.archive_detail,
            "next": next_link,
            "results": HistoricalPositionOut(page.positions, many=True).data,
        }
        headers = {"Link": f'<{next_link}>; rel="next"'} if next_link else None
        return Response(body, headers=headers)


class TodayLocationsView(APIView):
    """The latest position of every machine today (``HISTORY_TIME_ZONE``), ordered by identifier.

    ``poi`` keeps the machines whose latest position today is in that point of interest.
    """

    class InputSerializer(PagedInputSerializer):
        poi = serializers.CharField(required=False, max_length=200)

    @extend_schema(
        operation_id="history_locations_today",
        parameters=[InputSerializer],
        # 404: a page past the last one ("Invalid page."), DRF's paginator convention.
        responses={200: TodayPageOut, 404: ErrorOut, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=query_parameters(request))
        params.is_valid(raise_exception=True)
        poi = params.validated_data.get("poi")
        start, end = day_window(now_ms(), settings.HISTORY_TIME_ZONE)
        repository = position_repository()
        response = paged_response(
            request,
            self,
            lambda: repository.count_latest(start, end, poi),
            lambda skip, limit: repository.latest(start, end, poi, skip, limit),
            HistoricalPositionOut,
        )
        response.data.update(
            {"day_from": ms_to_iso(start), "day_to": ms_to_iso(end), "time_zone": settings.HISTORY_TIME_ZONE}
        )
        return response
