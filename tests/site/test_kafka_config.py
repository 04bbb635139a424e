"""Kafka client configuration: the defaults the delivery semantics and the outage behaviour need."""

from __future__ import annotations

from stream.kafka import KafkaClientFactory


def test_clients_back_off_between_reconnection_attempts_and_settings_may_override():
    factory = KafkaClientFactory({"bootstrap.servers": "127.0.0.1:1"}, producer={"reconnect.backoff.ms": 200})
    consumer = factory.consumer_config("group")
    assert (consumer["reconnect.backoff.ms"], consumer["reconnect.backoff.max.ms"]) == (1000, 10000)
    assert factory.producer_config()["reconnect.backoff.ms"] == 200
    assert factory.producer_config()["reconnect.backoff.max.ms"] == 10000


def test_settings_cannot_turn_automatic_commits_back_on():
    factory = KafkaClientFactory({"bootstrap.servers": "x"}, consumer={"enable.auto.commit": True})
    assert factory.consumer_config("group", **{"enable.auto.offset.store": True})["enable.auto.commit"] is False
    assert factory.consumer_config("group", **{"enable.auto.offset.store": True})["enable.auto.offset.store"] is False
