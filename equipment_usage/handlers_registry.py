"""Consumer handler of the registry topic: every version of every machine's record stored, and the
re-pricing of stored usage a rate change calls for (``equipment_usage/repricing.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from equipment_usage.business_daily import correction_records
from equipment_usage.business_ledger import Entry, UsageRules
from equipment_usage.business_pricing import version_key
from equipment_usage.handlers import usage_rules
from equipment_usage.publisher import UsagePublisher
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import PRICE_FIELDS
from equipment_usage.repository_registry import EquipmentRegistryRepository
from equipment_usage.repricing import Repricer, RepricingOutcome
from stream.consumer import Record


class EquipmentRegistryHandler:
    """Stores every registry record version, then re-prices the stored usage whose price they
    change and publishes the re-priced records (retraction first), like a late reading's correction.

    Per batch: 1. store the versions (idempotent upserts); 2. read the machines' references (the
    re-pricing horizon) and their versions; 3. read, in one query, the counted entries in the ranges
    the batch's versions govern and those these versions re-priced before; 4. write the re-priced
    ones (compare-and-swap, retried on fresh state if another writer changed one); 5. report them
    (``usage_repricings``); 6. recompute the touched daily totals; 7. publish, wait for delivery.
    Every step can run twice: a crash anywhere replays the batch, which finds the entries already
    re-priced (step 3) and republishes them (docs/USAGE.md, "Rate changes")."""

    def __init__(
        self,
        repository: EquipmentRegistryRepository | None = None,
        usage: UsageRepository | None = None,
        publisher: UsagePublisher | None = None,
        rules: UsageRules | None = None,
        clock: Any = time.time,
    ) -> None:
        self._repository = repository
        self._usage = usage
        self._publisher = publisher
        self._rules = rules
        self.clock = clock

    @property
    def repository(self) -> EquipmentRegistryRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["equipment_registry"]
        return self._repository

    @property
    def usage(self) -> UsageRepository:
        if self._usage is None:
            from telemetry_site.backends import repositories

            self._usage = repositories["usage"]
        return self._usage

    @property
    def publisher(self) -> UsagePublisher:
        if self._publisher is None:
            self._publisher = UsagePublisher()
        return self._publisher

    @property
    def rules(self) -> UsageRules:
        if self._rules is None:
            self._rules = usage_rules()
        return self._rules

    def open_kafka_clients(self) -> None:
        self.publisher.open()

    def handle(self, records: Sequence[Record]) -> None:
        self.process([record.value for record in records])

    def process(self, records: Sequence[dict]) -> RepricingOutcome:
        # One write per version key, the last record of the batch winning (the topic's order): an
        # unordered bulk write of two upserts of one key may apply them in either order.
        latest = {version_key(record["identifier"], record["last_update"]): record for record in records}
        # A version stored with these rates whose re-pricing finished (flagged last, after delivery)
        # needs nothing: a replay of the topic, or a record that changed no price field, costs this
        # one read. Any other goes through every step; a crash before the flag redoes them.
        stored = self.repository.stored_versions(latest)
        settled = {
            key
            for key, record in latest.items()
            if key in stored
            and stored[key].get("repriced")
            and all(stored[key].get(name) == record.get(name) for name in PRICE_FIELDS)
        }
        pending = [record for key, record in latest.items() if key not in settled]
        # Storing replaces the document (and drops the flag): identical records are not stored again,
        # settled ones that changed another field (a brand, a serial number) are flagged again.
        changed = [
            record
            for key, record in latest.items()
            if key not in stored or any(stored[key].get(name) != value for name, value in record.items())
        ]
        self.repository.store(changed)
        restored = [record for record in changed if version_key(record["identifier"], record["last_update"]) in settled]
        if not pending:
            self.repository.mark_repriced(restored)
            return RepricingOutcome()
        versions: dict[str, list[int]] = {}
        for record in pending:
            versions.setdefault(record["identifier"], []).append(record["last_update"])
        outcome = Repricer(self.usage, self.repository, self.rules).reprice_versions(versions)
        self.usage.record_repricings(repricing_reports(outcome, int(self.clock() * 1000)))
        self.usage.recompute_daily({(entry.identifier, day) for entry in outcome.published for day in entry.dates})
        self.publisher.publish([record for entry in outcome.published for record in correction_records(entry)])
        self.repository.mark_repriced([*pending, *restored])
        return outcome


def repricing_reports(outcome: RepricingOutcome, now_ms: int) -> dict[str, dict[str, Any]]:
    """One report per version of the run that re-priced stored usage or was refused (partly), by key."""
    entries: dict[str | None, list[Entry]] = {}
    for entry in outcome.published:
        entries.setdefault(entry.repriced_by, []).append(entry)
    reports = {}
    for scope in outcome.scopes:
        mine = entries.get(scope.key, [])
        if not mine and scope.refused_before is None:
            continue
        rates = next(v for v in outcome.versions[scope.identifier] if v.last_update == scope.last_update)
        reports[scope.key] = {
            "identifier": scope.identifier,
            "last_update": scope.last_update,
            "hourly_rate": rates.hourly_rate,
            "km_rate": rates.km_rate,
            "currency": rates.currency,
            "governs_from": scope.last_update,
            "governs_to": scope.end,
            "refused_before": scope.refused_before,
            "entries": len(mine),
            "days": len({day for entry in mine for day in entry.dates}),
            "logged_at": now_ms,
        }
    return reports
