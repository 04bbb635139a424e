"""Composition root of the consumer services: ``settings.TELEMETRY_SERVICES`` -> a ``ConsumerLoop``.

Each service is one consumer group reading one topic::

    "current": {
        "TOPIC": "data.c40.equipment.enriched",
        "GROUP_ID": "c40-equipment-current",
        "CODEC": "telemetry",                       # alias in TELEMETRY_CODECS
        "VALIDATOR": "stream.validation.validate_telemetry",   # optional
        "HANDLER": "equipment_current.handlers.CurrentStateHandler",
        "HANDLER_OPTIONS": {},                      # optional keyword arguments of the handler
        "BATCH_SIZE": 500,                          # optional, default CONSUMER_BATCH_SIZE
        "BATCH_WAIT_SECONDS": 1.0,                  # optional, default CONSUMER_BATCH_WAIT_SECONDS
    }

Handlers take their repositories as arguments and default to the registries, so this is the one
place production wiring happens, and tests override it through settings or by passing objects.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from stream.consumer import BatchReport, ConsumerLoop
from stream.dead_letters import DeadLetterSink
from telemetry_site import backends
from telemetry_site.metrics import consumer_observer

REQUIRED_KEYS = ("TOPIC", "GROUP_ID", "CODEC", "HANDLER")


def service_definition(name: str) -> dict[str, Any]:
    services = settings.TELEMETRY_SERVICES
    if name not in services:
        raise ImproperlyConfigured(f"Unknown service {name!r}; settings.TELEMETRY_SERVICES has {sorted(services)}.")
    definition = services[name]
    missing = [key for key in REQUIRED_KEYS if not definition.get(key)]
    if missing:
        raise ImproperlyConfigured(f"settings.TELEMETRY_SERVICES[{name!r}] lacks {', '.join(missing)}.")
    return definition


def build_handler(name: str) -> Any:
    definition = service_definition(name)
    return import_string(definition["HANDLER"])(**definition.get("HANDLER_OPTIONS", {}))


def build_validator(definition: dict[str, Any]) -> Any:
    """Every service's records must be storable and servable (``validation.storable_problems``);
    a service's ``VALIDATOR`` adds its own rules. Both get ``settings.TELEMETRY_VALIDATION``."""
    from stream.validation import storable_problems

    path = definition.get("VALIDATOR")
    rule = import_string(path) if path else None
    rules = getattr(settings, "TELEMETRY_VALIDATION", {})

    def validate(record: dict) -> list[str]:
        problems = storable_problems(record, rules)
        if rule is None:
            return problems
        if not problems:  # the common case: the service's rule alone decides
            return rule(record, now_ms=int(time.time() * 1000), rules=rules)
        # A rule may break on values the first check refused (a float past 64 bits): those reasons suffice.
        with contextlib.suppress(Exception):
            problems += [p for p in rule(record, now_ms=int(time.time() * 1000), rules=rules) if p not in problems]
        return problems

    return validate


def build_consumer_loop(
    name: str,
    *,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    consumer_overrides: dict[str, Any] | None = None,
) -> ConsumerLoop:
    """Wire the loop of service ``name`` from settings. Opens the Kafka clients (not the database)."""
    definition = service_definition(name)
    factory = backends.kafka["default"]
    handler = build_handler(name)
    # A handler that produces (usage publishes its records) opens its producer with the loop's other
    # clients: connecting then overlaps the consumer's group join instead of delaying the first batch.
    open_clients = getattr(handler, "open_kafka_clients", None)
    if open_clients is not None:
        open_clients()
    dead_letters = DeadLetterSink(
        factory.producer(**{"client.id": f"c40-{name}-deadletter"}),
        topic=settings.DEAD_LETTER_TOPIC,
        service=name,
        max_bytes=settings.DEAD_LETTER_MAX_BYTES,
    )
    consumer = factory.consumer(definition["GROUP_ID"], [definition["TOPIC"]], **(consumer_overrides or {}))
    return ConsumerLoop(
        consumer=consumer,
        codec=backends.codecs[definition["CODEC"]],
        handler=handler,
        dead_letters=dead_letters,
        validator=build_validator(definition),
        batch_size=definition.get("BATCH_SIZE", settings.CONSUMER_BATCH_SIZE),
        batch_wait=definition.get("BATCH_WAIT_SECONDS", settings.CONSUMER_BATCH_WAIT_SECONDS),
        max_messages=max_messages,
        idle_timeout=idle_timeout,
        backoff=settings.CONSUMER_RETRY_BACKOFF_SECONDS,
        backoff_max=settings.CONSUMER_RETRY_BACKOFF_MAX_SECONDS,
        name=name,
        on_batch=record_progress,
        observer=consumer_observer(name),
    )


def record_progress(report: BatchReport) -> None:
    backends.repositories["consumer_progress"].record(report)
