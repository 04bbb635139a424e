"""Shared fixtures: the real broker (Tansu), a fresh database per test, an Avro codec setup.

Nothing here edits ``sys.modules`` or patches threads: every dependency is swapped through
settings, which the registries re-read on ``setting_changed``.
"""

from __future__ import annotations

import uuid

import pytest

from devstack.embedded import create_topics, start_broker
from devstack.stand_ins import mock_registry_settings
from telemetry_site import backends
from tests.factories import authenticated_api_client
from tests.processes import FAST_GROUP, real_mongo_uri


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the real broker is in the broker layer whether or not it says so: the fast
    layers, and every mutant's test run, select ``-m "not broker"``. 31 connectors, rentals and
    alerts tests used the broker unmarked, so each mutant's run started one, and one of them (the
    connectors' metrics) failed inside mutmut's in-process run depending on what ran before it."""
    for item in items:
        if "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)


@pytest.fixture
def mongo_db(settings):
    """A fresh database: mongomock-ng in-process, or the real server when MONGO_URI is set."""
    uri = real_mongo_uri() or "mongomock://"
    name = f"c40_test_{uuid.uuid4().hex[:10]}"
    settings.TELEMETRY_DATABASES = {
        "default": {"BACKEND": "telemetry_site.databases.open_database", "OPTIONS": {"uri": uri, "name": name}}
    }
    database = backends.databases["default"]
    yield database
    database.client.drop_database(name)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    process = start_broker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    yield process
    process.stop()


@pytest.fixture
def avro(settings):
    """Avro codecs sharing one in-process ``mock://`` registry client (per test)."""
    for name, value in mock_registry_settings().items():
        setattr(settings, name, value)
    return backends.codecs


@pytest.fixture
def kafka(settings, broker):
    """Point the Kafka registry at the test broker; give every topic and group of this test a
    unique name, create the topics, and return the client factory."""
    suffix = uuid.uuid4().hex[:8]
    settings.TELEMETRY_KAFKA = {
        "default": {
            "BACKEND": "stream.kafka.KafkaClientFactory",
            "OPTIONS": {"common": {"bootstrap.servers": broker.bootstrap_servers}, "consumer": FAST_GROUP},
        }
    }
    settings.DEAD_LETTER_TOPIC = f"deadletter-{suffix}"
    for name in (
        "TELEMETRY_TOPIC",
        "REGISTRY_TOPIC",
        "USAGE_TOPIC",
        "RENTALS_TOPIC",
        "MAINTENANCE_TOPIC",
        "UTILISATION_TOPIC",
        "ALERTS_TOPIC",
        "ALERT_REPORTS_TOPIC",
    ):
        setattr(settings, name, f"{getattr(settings, name)}-{suffix}")
    services = {}
    for name, definition in settings.TELEMETRY_SERVICES.items():
        topic = settings.REGISTRY_TOPIC if definition["CODEC"] == "registry" else settings.TELEMETRY_TOPIC
        services[name] = {**definition, "TOPIC": topic, "GROUP_ID": f"{definition['GROUP_ID']}-{suffix}"}
    settings.TELEMETRY_SERVICES = services
    settings.CONSUMER_BATCH_WAIT_SECONDS = 0.2
    factory = backends.kafka["default"]
    create_topics(
        factory.admin(),
        {
            settings.TELEMETRY_TOPIC: 4,
            settings.REGISTRY_TOPIC: 2,
            settings.USAGE_TOPIC: 4,
            settings.RENTALS_TOPIC: 2,
            settings.MAINTENANCE_TOPIC: 2,
            settings.UTILISATION_TOPIC: 2,
            settings.ALERTS_TOPIC: 2,
            settings.ALERT_REPORTS_TOPIC: 1,
            settings.DEAD_LETTER_TOPIC: 1,
        },
    )
    return factory


@pytest.fixture
def api_client():
    return authenticated_api_client()
