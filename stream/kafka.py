"""Kafka clients, built from settings by the ``kafka`` registry.

The factory only holds configuration; each call builds a new librdkafka client, so nothing
connects until a command asks for a consumer or a producer.
"""

from __future__ import annotations

from typing import Any

# Consumer properties the delivery semantics depend on; settings cannot override them.
CONSUMER_INVARIANTS = {
    # Offsets are committed explicitly, after the batch is persisted.
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
}
# librdkafka retries a refused connection every ~50 ms by default (100 ms, jittered) and logs each
# attempt: a broker outage became ~20 log lines a second per client. One attempt a second, backing
# off to 10 s, reconnects just as surely (tests/reliability/test_broker_outage.py).
CONNECTION_DEFAULTS = {
    "reconnect.backoff.ms": 1000,
    "reconnect.backoff.max.ms": 10000,
}
CONSUMER_DEFAULTS = {
    **CONNECTION_DEFAULTS,
    "auto.offset.reset": "earliest",
    # "range" rebalances correctly on every broker we test with; cooperative-sticky did not on Tansu.
    "partition.assignment.strategy": "range",
}
PRODUCER_DEFAULTS = {
    **CONNECTION_DEFAULTS,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
}


class KafkaClientFactory:
    """Builds confluent-kafka consumers, producers and admin clients from one configuration."""

    def __init__(
        self,
        common: dict[str, Any],
        consumer: dict[str, Any] | None = None,
        producer: dict[str, Any] | None = None,
    ) -> None:
        self.common = dict(common)
        self.consumer_options = dict(consumer or {})
        self.producer_options = dict(producer or {})

    @property
    def bootstrap_servers(self) -> str:
        return self.common.get("bootstrap.servers", "")

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        return {
            **CONSUMER_DEFAULTS,
            **self.common,
            **self.consumer_options,
            **overrides,
            "group.id": group_id,
            **CONSUMER_INVARIANTS,
        }

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        return {**PRODUCER_DEFAULTS, **self.common, **self.producer_options, **overrides}

    def consumer(self, group_id: str, topics: list[str] | None = None, **overrides: Any) -> Any:
        """A consumer of ``group_id``, subscribed to ``topics`` when given."""
        from confluent_kafka import Consumer

        consumer = Consumer(self.consumer_config(group_id, **overrides))
        if topics:
            consumer.subscribe(topics)
        return consumer

    def producer(self, **overrides: Any) -> Any:
        from confluent_kafka import Producer

        return Producer(self.producer_config(**overrides))

    def admin(self, **overrides: Any) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({**self.common, **overrides})
