"""Fixtures of the reliability suite; every module here is marked ``reliability`` (``pytest -m reliability``)."""

from __future__ import annotations

import pytest

from stream.codecs import JsonCodec


@pytest.fixture
def json_telemetry(settings) -> JsonCodec:
    """The telemetry codec of this process is JSON too, like the child processes'."""
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    return JsonCodec("c40_enriched.avsc")
