"""Fixtures of the reliability suite; every module here is marked ``reliability`` (``pytest -m reliability``)."""

from __future__ import annotations

import json

import pytest

from telemetry_site.codecs import JsonCodec

# Child consumers of this suite leave a dead member's partitions after 3 s instead of 6 s, so
# five SIGKILLs and restarts fit in CI; a batch on litemongo takes far less than max.poll.interval.
QUICK_GROUP = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 300, "max.poll.interval.ms": 10000}


@pytest.fixture
def json_telemetry(settings) -> JsonCodec:
    """The telemetry codec of this process is JSON too, like the child processes'."""
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "telemetry_site.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    return JsonCodec("c40_enriched.avsc")


def quick_group_env() -> dict[str, str]:
    return {"KAFKA_CONSUMER_OPTIONS": json.dumps(QUICK_GROUP)}
