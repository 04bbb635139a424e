"""The API docs pages, served from this project alone (README: no CDN).

drf-spectacular serves Swagger UI and ReDoc from drf-spectacular-sidecar's static files, but ReDoc
still asked other hosts: its page linked Google Fonts (our ``drf_spectacular/redoc.html`` drops the
links) and ReDoc draws the Redocly logo from cdn.redoc.ly. The policy below keeps images, fonts
and fetches on this server, so the browser does not even ask (tests/browser).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework.request import Request
from rest_framework.response import Response

SAME_ORIGIN_ASSETS = "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'"


class LocalRedocView(SpectacularRedocView):
    @extend_schema(exclude=True)  # a page about the API, not an operation of it
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = SAME_ORIGIN_ASSETS
        return response
