"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry_site import backends


def check_mongodb(timeout: float) -> None:
    """A write acknowledged by a majority of the replica set, not a ping: a primary that lost its
    majority still answers pings while every consumer's ``w: majority`` write waits and fails."""
    import pymongo

    from stream.mongo import check_majority_write

    with pymongo.timeout(timeout):
        check_majority_write(backends.databases["default"])


def check_kafka(timeout: float) -> None:
    backends.kafka["default"].admin().list_topics(timeout=timeout)


READINESS_CHECKS = {"mongodb": check_mongodb, "kafka": check_kafka}


class HealthView(APIView):
    """The process is alive. Touches no dependency."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Every dependency answers within ``READY_TIMEOUT_SECONDS``; else 503 naming the failing ones."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        responses={
            code: inline_serializer(
                f"Readiness{code}",
                {"status": serializers.CharField(), "checks": serializers.DictField(child=serializers.CharField())},
            )
            for code in (200, 503)
        }
    )
    def get(self, request: Request) -> Response:
        timeout = settings.READY_TIMEOUT_SECONDS
        results = {}
        for name, check in READINESS_CHECKS.items():
            try:
                check(timeout)
            except Exception as exc:  # any failure means "not ready", and the reason is reported
                results[name] = f"unavailable: {exc}"
            else:
                results[name] = "ok"
        ready = all(value == "ok" for value in results.values())
        return Response(
            {"status": "ready" if ready else "unavailable", "checks": results}, status=200 if ready else 503
        )
