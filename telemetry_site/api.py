"""What every app's API shares: the exception handler, input fields, pagination over repositories."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus: a database that does not answer (unreachable, failing over, past
    ``MONGO_OPERATION_TIMEOUT_MS``) is a 503, not a 500."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    from stream.mongo import is_transient_error

    if is_transient_error(exc):
        return Response(
            {"detail": "The database is unavailable; try again shortly.", "dependency": "mongodb"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return None


# The last millisecond of 9999-12-31 UTC, the largest instant ISO 8601 (and Python) can write.
MAX_TIMESTAMP_MS = 253402300799999
# Epoch milliseconds: an optional minus and ASCII digits (str.isdigit() also accepts "²", which int()
# refuses). More than 20 characters is out of range whatever the digits (and int() refuses more than
# 4,300 digits); an ISO 8601 text longer than 64 characters is no instant either.
EPOCH_MS = re.compile(r"-?[0-9]+")
MAX_EPOCH_LENGTH = 20
MAX_TIMESTAMP_LENGTH = 64


# What a timestamp parameter accepts, as the OpenAPI schema says it (answers are the date-time only).
TIMESTAMP_SCHEMA = {
    "oneOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[0-9]{1,15}$", "description": "epoch milliseconds"},
    ],
    "description": "ISO 8601 or epoch milliseconds",
}


@extend_schema_field(
    {"type": "string", "format": "date-time", "description": "ISO 8601; as input, epoch milliseconds too"}
)
class TimestampField(serializers.Field):
    """An instant given as ISO 8601 (with or without offset; naive means UTC) or epoch milliseconds.

    The internal value is epoch milliseconds, the unit every repository and rule uses.
    """

    default_error_messages = {
        "invalid": "Expected ISO 8601 (2026-11-25T08:00:00Z) or epoch milliseconds, got {value!r}.",
        "range": "Out of the supported range (years 1970 to 9999).",
    }

    def to_internal_value(self, data: Any) -> int:
        text = str(data).strip()
        if EPOCH_MS.fullmatch(text):
            if len(text) > MAX_EPOCH_LENGTH:
                self.fail("range")
            value = int(text)
        elif len(text) > MAX_TIMESTAMP_LENGTH:
            self.fail("invalid", value=text[:64])
        else:
            try:
                parsed = parse_datetime(text)
                if parsed is not None and parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                value = None if parsed is None else math.floor(parsed.timestamp() * 1000)
            except (ValueError, OverflowError):  # a day 31 in February, an offset of 99 hours
                value = None
            if value is None:
                self.fail("invalid", value=text[:64])
        if not 0 <= value <= MAX_TIMESTAMP_MS:
            self.fail("range")
        return value

    def to_representation(self, value: int) -> str:
        return ms_to_iso(value)


@extend_schema_field(TIMESTAMP_SCHEMA)
class TimestampParameter(TimestampField):
    """A TimestampField read from the query string: its schema names both shapes it accepts."""


def ms_to_iso(value: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC with millisecond precision."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query_parameters(request: Any) -> dict[str, str]:
    """The query string for an input serializer: each parameter's last value, in a plain dict.

    Not the ``QueryDict`` itself: DRF reads a QueryDict as an HTML form, where an empty optional
    field means "absent", so ``?updated_since=`` or ``?poi=`` was silently no filter. Here an empty
    value is a value, refused with a 400 naming the parameter, as the published schema says
    (``format: date-time``, ``minLength: 1``).
    """
    return request.query_params.dict()


class LazyPage(Sequence):
    """A sliceable, ``len()``-able view of a repository query, for DRF's paginators.

    ``count`` and ``fetch(skip, limit)`` run only when the paginator asks, one query each.
    """

    def __init__(self, count: Callable[[], int], fetch: Callable[[int, int], list]) -> None:
        self._count = count
        self._fetch = fetch
        self._len: int | None = None

    def __len__(self) -> int:
        if self._len is None:
            self._len = self._count()
        return self._len

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("LazyPage supports contiguous slices only")
            return self._fetch(start, max(0, stop - start))
        items = self._fetch(index, 1)
        if not items:
            raise IndexError(index)
        return items[0]


class PageNumberPage(PageNumberPagination):
    """Page-number pagination with a client-chosen size, bounded by ``API_MAX_PAGE_SIZE``."""

    page_size_query_param = "page_size"

    def get_page_size(self, request: Any) -> int:
        self.max_page_size = settings.API_MAX_PAGE_SIZE
        self.page_size = settings.API_PAGE_SIZE
        return super().get_page_size(request)


def paged_response(
    request: Any,
    view: Any,
    count: Callable[[], int],
    fetch: Callable[[int, int], list],
    serializer: type[serializers.Serializer],
    context: dict | None = None,
) -> Response:
    """One page-number page of a repository query (``count()``, ``fetch(skip, limit)``), serialized."""
    paginator = PageNumberPage()
    page = paginator.paginate_queryset(LazyPage(count, fetch), request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, context=context or {}).data)


class PagedInputSerializer(serializers.Serializer):
    """Query parameters of a paged list; an oversized page is refused (400), not clamped."""

    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1)

    def validate_page_size(self, value: int) -> int:
        if value > settings.API_MAX_PAGE_SIZE:
            raise serializers.ValidationError(f"At most {settings.API_MAX_PAGE_SIZE}.")
        return value


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()


# A 400: each offending parameter maps to its messages, e.g. ``{"bbox": ["Expected four numbers"]}``.
# A raw schema, not a serializer: the keys are the parameters' names, not a fixed ``parameter``
# property (which the schema required, so every real 400 broke the schema it published).
ParameterErrorsOut = OpenApiResponse(
    response={
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "example": {"bbox": ["Expected four numbers: minLon,minLat,maxLon,maxLat."]},
    },
    description="Each offending query parameter, with its messages.",
)


def paginated(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The response serializer of a page-number page of ``item`` (for the OpenAPI schema)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


ERROR_RESPONSES = {400: ParameterErrorsOut, 401: ErrorOut, 403: ErrorOut, 503: ErrorOut}
# A write's 400: each offending field with its messages, or {"detail": ...} for a body that does
# not parse (DRF's ParseError).
WRITE_ERRORS = {
    **ERROR_RESPONSES,
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="The offending fields, or a detail"),
}
