"""Settings that replace the schema registry with confluent-kafka's in-process ``mock://`` client.

The tests and the benchmarks both run the Avro codecs against it; one function builds those settings
for both. (The broker needs no such stand-in: the tests run the real Tansu, see ``embedded``.)
"""

from __future__ import annotations

import uuid
from typing import Any

# Every codec alias of ``TELEMETRY_CODECS`` and the schema file it reads.
CODEC_SCHEMAS = {
    "telemetry": "c40_enriched.avsc",
    "registry": "equipment_registry.avsc",
    "usage": "usage.avsc",
    "rentals": "rental_statement.avsc",
    "maintenance": "maintenance_event.avsc",
    "utilisation": "utilisation_day.avsc",
    "alerts": "alert_event.avsc",
    "alert_reports": "alert_report.avsc",
}


def mock_registry_settings(registry_url: str | None = None) -> dict[str, Any]:
    """``TELEMETRY_SCHEMA_REGISTRIES`` and ``TELEMETRY_CODECS``: Avro codecs of every alias sharing one
    ``mock://`` registry client (a fresh one unless ``registry_url`` names one; subjects ``<alias>-value``).

    A ``mock://`` registry keeps its schemas per client instance, so everything that encodes and
    decodes in one process must go through the one client the registry alias caches.
    """
    url = registry_url or f"mock://{uuid.uuid4().hex}"
    return {
        "TELEMETRY_SCHEMA_REGISTRIES": {
            "default": {"BACKEND": "stream.codecs.schema_registry_client", "OPTIONS": {"url": url}}
        },
        "TELEMETRY_CODECS": {
            alias: {
                "BACKEND": "stream.codecs.ConfluentAvroCodec",
                "OPTIONS": {"schema": schema, "registry": "default", "subject": f"{alias}-value"},
            }
            for alias, schema in CODEC_SCHEMAS.items()
        },
    }
