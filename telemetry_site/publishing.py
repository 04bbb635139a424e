"""The lazy parts every publisher of the project shares: a producer from the Kafka registry, a codec
from the codec registry and a topic from settings, each built on first use (nothing connects at
construction) unless the caller passes its own, as the tests do.

A publisher names its parts with three class attributes; what it publishes and how it waits for
delivery stay its own (usage's records, the connectors' messages, rentals' statement versions).
"""

from __future__ import annotations

from typing import Any


class KafkaPublisher:
    CLIENT_ID: str = "c40-publisher"
    CODEC: str = ""  # alias in TELEMETRY_CODECS
    TOPIC_SETTING: str = ""  # name of the setting that holds the topic

    def __init__(
        self, producer: Any = None, codec: Any = None, topic: str | None = None, timeout: float = 30.0
    ) -> None:
        self._producer = producer
        self._codec = codec
        self._topic = topic
        self.timeout = timeout

    @property
    def producer(self) -> Any:
        if self._producer is None:
            from telemetry_site.backends import kafka

            self._producer = kafka["default"].producer(**{"client.id": self.CLIENT_ID})
        return self._producer

    @property
    def codec(self) -> Any:
        if self._codec is None:
            from telemetry_site.backends import codecs

            self._codec = codecs[self.CODEC]
        return self._codec

    @property
    def topic(self) -> str:
        if self._topic is None:
            from django.conf import settings

            self._topic = getattr(settings, self.TOPIC_SETTING)
        return self._topic
