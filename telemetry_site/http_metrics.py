"""Prometheus metrics of the web server: requests by route, method and status, their duration, and
``GET /metrics`` (docs/OPERATIONS.md). Built on first use, like every family (``telemetry_site.metrics``)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telemetry_site.metrics import default_registry, once_per_registry

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class HttpFamilies:
    requests: Any
    duration: Any


@once_per_registry
def http_families(registry: Any = None) -> HttpFamilies:
    from prometheus_client import Counter, Histogram

    registry = registry or default_registry()
    return HttpFamilies(
        requests=Counter(
            "c40_http_requests",
            "HTTP requests answered, by URL pattern, method and status code.",
            ("route", "method", "status"),
            registry=registry,
        ),
        duration=Histogram(
            "c40_http_request_duration_seconds",
            "Time to answer, by URL pattern and method.",
            ("route", "method"),
            buckets=HTTP_BUCKETS,
            registry=registry,
        ),
    )


def route_of(request: Any) -> str:
    """The URL pattern that answered (``/api/v1/current/<str:identifier>/``), never the path itself."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return "unmatched"
    return "/" + match.route.lstrip("^")


class PrometheusMiddleware:
    """Counts every request by route, method and status, and times it. First in MIDDLEWARE, so the
    time covers the others (sessions, authentication)."""

    def __init__(self, get_response: Callable[[Any], Any], families: Callable[[], HttpFamilies] | None = None) -> None:
        self.get_response = get_response
        self.families = families or http_families
        self._failure_logged = False

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        try:
            families = self.families()
            route = route_of(request)
            method = request.method if request.method in HTTP_METHODS else "other"
            families.requests.labels(route, method, str(response.status_code)).inc()
            families.duration.labels(route, method).observe(elapsed)
        except Exception:
            # Metrics are best-effort: a request is never lost to its own bookkeeping. Logged once
            # per process (a broken registry would otherwise log on every request).
            if not self._failure_logged:
                self._failure_logged = True
                logger.exception("Could not record the HTTP metrics of %s; serving the response anyway", request.path)
        return response


def exposition_registry() -> Any:
    """What ``/metrics`` of the web server shows: every worker's metrics in multiprocess mode, this
    process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return default_registry()


def metrics_view(request: Any) -> Any:
    """``GET /metrics``: the Prometheus text format. Open like /health: keep it off the public
    side of the proxy (docs/OPERATIONS.md)."""
    from django.http import HttpResponse
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return HttpResponse(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)
