"""Prometheus metrics of ``run_connectors`` (served on METRICS_PORT like a consumer's).

Label values are bounded: a connector's name (as many as configured) and an outcome class.
Built on first use, once per registry, as ``telemetry_site.metrics`` builds its families.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

OUTCOMES = ("ok", "suspended", "error", "interrupted")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ConnectorFamilies:
    polls: Any
    requests: Any
    pages: Any
    machines: Any
    messages: Any
    last_success: Any
    budget_used: Any


@functools.cache
def _families(registry: Any) -> ConnectorFamilies:
    from prometheus_client import Counter, Gauge

    label = ("connector",)
    return ConnectorFamilies(
        polls=Counter(
            "c40_connector_polls",
            "Polls of a maker's feed, by outcome (ok, suspended, error, interrupted).",
            (*label, "outcome"),
            registry=registry,
        ),
        requests=Counter(
            "c40_connector_requests",
            "HTTP requests sent to the maker (tokens and retries included).",
            label,
            registry=registry,
        ),
        pages=Counter("c40_connector_pages", "Fleet pages read.", label, registry=registry),
        machines=Counter("c40_connector_machines", "Equipment records read.", label, registry=registry),
        messages=Counter(
            "c40_connector_messages_published",
            "C40 messages published and acknowledged (a reading already published counts none).",
            label,
            registry=registry,
        ),
        last_success=Gauge(
            "c40_connector_last_success_timestamp_seconds",
            "When the connector's last poll completed.",
            label,
            registry=registry,
        ),
        budget_used=Gauge(
            "c40_connector_budget_used", "Requests used of today's (UTC) request budget.", label, registry=registry
        ),
    )


def connector_families(registry: Any = None) -> ConnectorFamilies:
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    with _LOCK:
        return _families(registry)
