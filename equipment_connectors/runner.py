"""The connectors' service: poll each due connector, map its pages, publish what is new.

One connector's failure is its own: ``poll`` records it in the connector's status and returns;
the others are polled as if nothing happened. A 429 or a 5xx suspends the connector's walk at the
page that failed (it resumes there after the wait) instead of sleeping, so no connector waits for
another's backoff. Every HTTP request is bounded (``transport``): a hanging maker holds the loop
for at most ``CONNECTORS_TIMEOUT_SECONDS`` per request.

Per page: the readings not yet published (dedup keys in MongoDB) become C40 records, published
and acknowledged, then their keys are stored. A crash between the two publishes them again on the
next poll (at least once; the consumers' writes are idempotent).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from equipment_connectors import mapping, transport
from equipment_connectors.auth import Authorizer, Token
from equipment_connectors.feed import (
    Budget,
    BudgetExhausted,
    ConnectorError,
    FeedWalk,
    Suspended,
    WalkState,
    equipment_of,
)
from equipment_connectors.metrics import connector_families
from equipment_connectors.models import Connector, ConnectorStatus, UnmatchedMachine
from equipment_connectors.publisher import PublishError

logger = logging.getLogger("telemetry.connectors")


@dataclass
class PollReport:
    connector: str
    outcome: str  # ok, suspended, error, interrupted
    pages: int = 0
    machines: int = 0
    messages: int = 0
    error: str = ""


class Interrupted(Exception):
    """A stop was requested between two pages; ``url`` is the next page to read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _aware(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


class ConnectorRunner:
    def __init__(
        self,
        *,
        publisher: Any = None,
        dedup: Any = None,
        registry: Any = None,
        clock: Callable[[], float] = time.time,
        request: Callable[..., transport.Response] = transport.request,
        timeout: float | None = None,
        max_page_bytes: int | None = None,
        max_pages: int | None = None,
    ) -> None:
        self._publisher, self._dedup, self._registry = publisher, dedup, registry
        self.clock = clock
        self.request = request
        self.timeout = timeout if timeout is not None else settings.CONNECTORS_TIMEOUT_SECONDS
        self.max_page_bytes = max_page_bytes if max_page_bytes is not None else settings.CONNECTORS_MAX_PAGE_BYTES
        self.max_pages = max_pages if max_pages is not None else settings.CONNECTORS_MAX_PAGES

    @property
    def publisher(self) -> Any:
        if self._publisher is None:
            from equipment_connectors.publisher import TelemetryPublisher

            self._publisher = TelemetryPublisher()
        return self._publisher

    @property
    def dedup(self) -> Any:
        if self._dedup is None:
            from telemetry_site.backends import repositories

            self._dedup = repositories["connector_dedup"]
        return self._dedup

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from telemetry_site.backends import repositories

            self._registry = repositories["connector_registry_index"]
        return self._registry

    # -- the loop ---------------------------------------------------------------------------------

    def due(self, now: float) -> list[Connector]:
        moment = _aware(now)
        connectors = Connector.objects.filter(enabled=True).select_related("status").order_by("pk")
        return [c for c in connectors if _status(c).next_poll_at is None or _status(c).next_poll_at <= moment]

    def run_once(self) -> list[PollReport]:
        now = self.clock()
        return [self.poll(connector) for connector in self.due(now)]

    def run(self, stop: threading.Event, *, once: bool = False, idle_seconds: float = 5.0) -> list[PollReport]:
        """Poll due connectors until ``stop`` is set (a signal handler sets it; the current poll
        finishes its page first)."""
        reports: list[PollReport] = []
        while not stop.is_set():
            for connector in self.due(self.clock()):
                if stop.is_set():
                    break
                try:
                    reports.append(self.poll(connector, stop))
                except Exception:  # its status could not be saved (the database): the others still run
                    logger.exception("connector %s: the poll's status could not be recorded", connector.name)
            if once:
                break
            stop.wait(idle_seconds)
        return reports

    # -- one poll ---------------------------------------------------------------------------------

    def poll(self, connector: Connector, stop: threading.Event | None = None) -> PollReport:
        """One poll of ``connector``; never raises. A ``stop`` set during the walk ends it after the
        current page (published, keys stored); the next start resumes at the following page."""
        status = _status(connector)
        now = self.clock()
        today = _aware(now).date()
        if status.budget_day != today:
            status.budget_day, status.budget_used = today, 0
        budget = Budget(connector.request_budget, status.budget_used)
        token = Token(status.access_token, status.token_expires_at or 0.0) if status.access_token else None

        def post(url: str, data: bytes, headers: dict[str, str]) -> transport.Response:
            budget.spend()
            return self.request(url, data=data, headers=headers, timeout=self.timeout, max_bytes=65_536)

        def get(url: str, headers: dict[str, str]) -> transport.Response:
            return self.request(url, headers=headers, timeout=self.timeout, max_bytes=self.max_page_bytes)

        authorizer = Authorizer(connector.credentials(), token, post, self.clock)
        resumed = status.resume_state if status.resume_url else {}
        # Consecutive failed polls carry over, so a maker that keeps failing is asked less and less often.
        walk_state = WalkState(
            status.resume_url or connector.first_url, list(resumed.get("visited", [])), failures=status.failures
        )
        counts = {name: int(resumed.get(name, 0)) for name in ("pages", "machines", "messages")}
        report = PollReport(connector.name, "ok")
        families = connector_families() if settings.METRICS_ENABLED else None
        try:
            walk = FeedWalk(
                walk_state,
                fmt=connector.format,
                authorizer=authorizer,
                get=get,
                budget=budget,
                clock=self.clock,
                max_pages=self.max_pages,
            )
            for page in walk.pages():
                machines, published = self.process(connector, equipment_of(page))
                counts["pages"] += 1
                counts["machines"] += machines
                counts["messages"] += published
                status.messages_total += published
                if families:
                    families.pages.labels(connector.name).inc()
                    families.machines.labels(connector.name).inc(machines)
                    families.messages.labels(connector.name).inc(published)
                if stop is not None and stop.is_set() and not walk.done:
                    raise Interrupted(walk_state.url)
        except Interrupted as interrupted:
            report.outcome = "interrupted"
            status.resume_url = interrupted.url
            status.resume_state = {"visited": walk_state.visited, **counts}
            status.next_poll_at = _aware(now)
        except Suspended as suspended:
            report.outcome, report.error = "suspended", str(suspended)
            status.resume_url = suspended.url
            status.resume_state = {"visited": walk_state.visited, **counts}
            status.next_poll_at = _aware(now + suspended.wait)
        except Exception as error:  # isolation: nothing escapes a poll
            report.outcome = "error"
            report.error = str(error) if isinstance(error, (ConnectorError, PublishError)) else repr(error)
            status.resume_url, status.resume_state = "", {}
            wait = connector.poll_seconds
            if isinstance(error, BudgetExhausted):
                wait = max(
                    wait, (dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() - now)
                )
            status.next_poll_at = _aware(now + wait)
            if not isinstance(error, (ConnectorError, PublishError)):
                logger.exception("connector %s: unexpected error", connector.name)
        else:
            status.resume_url, status.resume_state, status.failures = "", {}, 0
            status.last_success_at = _aware(self.clock())
            status.pages, status.machines, status.messages = counts["pages"], counts["machines"], counts["messages"]
            status.next_poll_at = _aware(now + connector.poll_seconds)
        if report.outcome in ("suspended", "error"):
            status.failures += 1
            status.last_error, status.last_error_at = report.error[:2000], _aware(self.clock())
            logger.warning("connector %s: %s", connector.name, report.error)
        report.pages, report.machines, report.messages = counts["pages"], counts["machines"], counts["messages"]
        if authorizer.renewed and authorizer.token is not None:
            status.access_token, status.token_expires_at = authorizer.token.access_token, authorizer.token.expires_at
            if authorizer.credentials.refresh_token != connector.refresh_token:
                connector.refresh_token = authorizer.credentials.refresh_token
                connector.save(update_fields=["refresh_token"])
        if families:
            families.requests.labels(connector.name).inc(budget.used - status.budget_used)
            families.polls.labels(connector.name, report.outcome).inc()
            families.budget_used.labels(connector.name).set(budget.used)
            if report.outcome == "ok":
                families.last_success.labels(connector.name).set(status.last_success_at.timestamp())
        status.budget_used = budget.used
        status.save()
        return report

    def process(self, connector: Connector, equipment: list[dict]) -> tuple[int, int]:
        """Publish the new readings of one page's machines; store their keys once acknowledged."""
        machines = [mapping.readings_of(item) for item in equipment]
        machines = [m for m in machines if m.machine.key is not None]
        keyed = [(m, [(mapping.dedup_key(connector.maker, m.machine, r), r) for r in m.readings]) for m in machines]
        seen = self.dedup.seen(key for _, pairs in keyed for key, _ in pairs)
        serials = [s for m in machines for s in (m.machine.pin, m.machine.serial) if s]
        identifiers = self.registry.identifiers(serials)
        records: list[dict] = []
        keys: list[str] = []
        unmatched: dict[str, tuple[mapping.Machine, str]] = {}
        for found, pairs in keyed:
            machine = found.machine
            identifier = identifiers.get(machine.pin or "") or identifiers.get(machine.serial or "")
            if identifier is None:
                identifier = connector.identifier_prefix + (machine.equipment_id or machine.pin or machine.serial or "")
                unmatched[machine.key] = (machine, identifier)
            fresh = [(key, reading) for key, reading in pairs if key not in seen]
            seen.update(key for key, _ in fresh)  # a machine listed twice in a walk publishes once
            records += mapping.messages(identifier, machine, [reading for _, reading in fresh])
            keys += [key for key, _ in fresh]
        self.publisher.publish(records, source=f"aemp-connector:{connector.pk}:{connector.maker}")
        self.dedup.remember(keys)
        record_unmatched(connector, unmatched, _aware(self.clock()), matched=[m.machine.key for m in machines])
        return len(equipment), len(records)


def _status(connector: Connector) -> ConnectorStatus:
    try:
        return connector.status
    except ConnectorStatus.DoesNotExist:
        status, _ = ConnectorStatus.objects.get_or_create(connector=connector)
        connector.status = status
        return status


def record_unmatched(
    connector: Connector, unmatched: dict[str, tuple[mapping.Machine, str]], now: dt.datetime, matched: list[str]
) -> None:
    """List the page's unmatched machines (first and last seen); drop those the registry now knows."""
    with transaction.atomic():
        now_matched = [key for key in matched if key not in unmatched]
        if now_matched:
            UnmatchedMachine.objects.filter(connector=connector, machine_key__in=now_matched).delete()
        if not unmatched:
            return
        known = set(
            UnmatchedMachine.objects.filter(connector=connector, machine_key__in=list(unmatched)).values_list(
                "machine_key", flat=True
            )
        )
        UnmatchedMachine.objects.filter(connector=connector, machine_key__in=known).update(last_seen=now)
        UnmatchedMachine.objects.bulk_create(
            UnmatchedMachine(
                connector=connector,
                machine_key=key,
                pin=machine.pin or "",
                serial_number=machine.serial or "",
                equipment_id=machine.equipment_id or "",
                oem=machine.oem or "",
                model=machine.model or "",
                published_as=identifier,
                first_seen=now,
                last_seen=now,
            )
            for key, (machine, identifier) in unmatched.items()
            if key not in known
        )
