"""A fake maker's feed on 127.0.0.1 (equipment_connectors.fake_maker), connectors pointing at it,
a runner with a clock the test moves, and a reader of the telemetry topic."""

from __future__ import annotations

import json
import uuid

import pytest

from equipment_connectors.fake_maker import FakeMaker, simulated_fleet
from equipment_connectors.models import Connector
from equipment_connectors.runner import ConnectorRunner


class Clock:
    def __init__(self, now: float = 1_767_607_200.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def makers():
    started: list[FakeMaker] = []

    def start(count: int = 250, **options) -> FakeMaker:
        maker = FakeMaker(simulated_fleet(count), **options).start()
        started.append(maker)
        return maker

    yield start
    for maker in started:
        maker.stop()


def connector_for(feed: FakeMaker, name: str = "komatsu", **fields) -> Connector:
    auth = {
        "oauth2": {
            "auth_type": "oauth2_client_credentials",
            "token_url": f"{feed.url}/token",
            "client_id": "c40",
            "client_secret": "s3cret",
        },
        "basic": {"auth_type": "http_basic", "username": "fleet", "password": "p4ss"},
        "none": {"auth_type": "none"},
    }[feed.auth]
    fleet_path = f"Fleet/{feed.first_page}"
    fields = {"maker": "Komatsu", "base_url": feed.base_url, "fleet_path": fleet_path, **auth, **fields}
    return Connector.objects.create(name=name, **fields)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def runner(clock, kafka, mongo_db):
    return ConnectorRunner(clock=clock, timeout=2.0)


def read_topic(factory, topic: str, codec, idle: float = 1.5) -> list[tuple[str, dict, dict]]:
    """Every message of ``topic``: (key, decoded value, headers)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    # Assigned, not subscribed: no group to join, every partition read from its start.
    consumer = factory.consumer(f"reader-{uuid.uuid4().hex[:8]}")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out = []
    try:
        quiet = 0.0
        while quiet < idle:
            message = consumer.poll(0.25)
            if message is None or message.error():
                quiet += 0.25
                continue
            quiet = 0.0
            headers = {name: value.decode() for name, value in (message.headers() or [])}
            out.append((message.key().decode(), codec.decode(message.value()), headers))
    finally:
        consumer.close()
    return out


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
