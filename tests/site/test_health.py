"""/health and /ready against real dependencies: the test broker, and ports where nothing listens."""

import time

import pytest
from rest_framework.test import APIClient

from devstack.embedded import free_port
from telemetry_site import backends
from tests.reliability.faults import FaultSwitch


@pytest.fixture
def client():
    return APIClient()


def test_health_touches_nothing(client, settings):
    settings.TELEMETRY_DATABASES = {"default": {"BACKEND": "telemetry_site.databases.open_database_typo"}}
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.broker
def test_ready_when_database_and_broker_answer(client, kafka, mongo_db):
    response = client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ready", "checks": {"mongodb": "ok", "kafka": "ok"}}
    # The database check is a write acknowledged by a majority, upserted into one document.
    client.get("/ready")
    assert [sorted(doc) for doc in mongo_db.readiness.find()] == [["_id", "checked_at"]]


@pytest.mark.broker
def test_not_ready_when_the_database_answers_pings_but_cannot_take_a_majority_write(client, kafka, settings):
    """A primary that lost its majority still answers pings; the consumers' writes fail with write
    concern errors. /ready says so, and recovers with the majority."""
    switch = FaultSwitch(kind="write_concern", down=True)
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "tests.reliability.faults.open_faulty_database",
            "OPTIONS": {"uri": "mongomock://", "name": "c40", "switch": switch},
        }
    }
    assert backends.databases["default"].command("ping") == {"ok": 1.0}
    response = client.get("/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["kafka"] == "ok"
    assert checks["mongodb"].startswith("unavailable: injected: waiting for replication timed out"), checks
    switch.down = False
    assert client.get("/ready").status_code == 200


@pytest.mark.broker
def test_not_ready_names_the_database_when_it_refuses(client, kafka, settings):
    settings.READY_TIMEOUT_SECONDS = 1.0
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "telemetry_site.databases.open_database",
            "OPTIONS": {"uri": f"mongodb://127.0.0.1:{free_port()}", "name": "c40", "timeout_ms": 500},
        }
    }
    started = time.monotonic()
    response = client.get("/ready")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["kafka"] == "ok"
    assert checks["mongodb"].startswith("unavailable: ")


def test_not_ready_names_the_broker_when_it_is_gone(client, settings, mongo_db):
    settings.READY_TIMEOUT_SECONDS = 1.0
    settings.TELEMETRY_KAFKA = {
        "default": {
            "BACKEND": "stream.kafka.KafkaClientFactory",
            "OPTIONS": {"common": {"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0}},
        }
    }
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["mongodb"] == "ok"
    assert response.json()["checks"]["kafka"].startswith("unavailable: ")


def test_api_answers_503_when_the_database_is_down(api_client, settings):
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "telemetry_site.databases.open_database",
            # With an operation timeout, pymongo retries server selection until it expires.
            "OPTIONS": {
                "uri": f"mongodb://127.0.0.1:{free_port()}",
                "name": "c40",
                "timeout_ms": 300,
                "operation_timeout_ms": 600,
            },
        }
    }
    response = api_client.get("/api/v1/current/")
    assert response.status_code == 503
    assert response.json()["dependency"] == "mongodb"


@pytest.mark.parametrize("kind", ["execution_timeout", "not_primary"])
def test_api_answers_503_when_the_database_times_out_or_fails_over(api_client, settings, kind):
    """A read past MONGO_OPERATION_TIMEOUT_MS (ExecutionTimeout) or during an election is the
    database's state, not a bug: 503 naming it, like an unreachable server."""
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "tests.reliability.faults.open_faulty_database",
            "OPTIONS": {"uri": "mongomock://", "name": "c40", "switch": FaultSwitch(kind=kind, down=True)},
        }
    }
    response = api_client.get("/api/v1/current/")
    assert response.status_code == 503
    assert response.json()["dependency"] == "mongodb"
