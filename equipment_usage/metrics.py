"""Prometheus metrics of the usage service: deltas, late readings, published records (docs/OPERATIONS.md).
Built on first use, once per registry, like every family (``telemetry_site.metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telemetry_site.metrics import default_registry, once_per_registry

# --- the usage service ------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageFamilies:
    deltas: Any
    late_spliced: Any
    too_late: Any
    published: Any


@once_per_registry
def usage_families(registry: Any = None) -> UsageFamilies:
    from prometheus_client import Counter

    registry = registry or default_registry()
    return UsageFamilies(
        deltas=Counter("c40_usage_deltas", "Usage deltas added to the ledger (replays add none).", registry=registry),
        late_spliced=Counter(
            "c40_usage_late_readings_spliced",
            "Late readings spliced into the ledger (their intervals corrected).",
            registry=registry,
        ),
        too_late=Counter(
            "c40_usage_late_readings_too_late",
            "Readings older than USAGE_LATE_READING_MAX_AGE_DAYS behind their machine's newest, stored flagged.",
            registry=registry,
        ),
        published=Counter(
            "c40_usage_records_published",
            "Usage records delivered to the usage topic, by kind (delta, retraction).",
            ("kind",),
            registry=registry,
        ),
    )


def usage_batch(outcome: Any, families: UsageFamilies | None = None) -> None:
    """Count one usage batch's ``BatchOutcome``."""
    families = families or usage_families()
    families.deltas.inc(outcome.inserted)
    families.late_spliced.inc(outcome.late)
    families.too_late.inc(outcome.too_late)


def usage_published(records: Sequence[dict], families: UsageFamilies | None = None) -> None:
    """Count records the usage publisher delivered: retractions apart."""
    families = families or usage_families()
    retracted = sum(1 for record in records if record.get("retracted"))
    families.published.labels("delta").inc(len(records) - retracted)
    families.published.labels("retraction").inc(retracted)
