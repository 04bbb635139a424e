"""Consumer handlers of the usage service: telemetry -> usage ledger, registry -> rates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from equipment_usage.business import (
    Entry,
    Reading,
    UsageRules,
    apply_readings,
    entry_id,
    late_entry,
    reading_from_record,
    usage_records,
)
from equipment_usage.publisher import UsagePublisher
from equipment_usage.repository import EquipmentRegistryRepository, UsageRepository
from telemetry_site.consumer import Record


def usage_rules() -> UsageRules:
    from django.conf import settings

    return UsageRules(
        time_zone=settings.USAGE_TIME_ZONE,
        max_speed_kmh=settings.USAGE_MAX_SPEED_KMH,
        hours_tolerance=settings.USAGE_HOURS_TOLERANCE,
        km_tolerance=settings.USAGE_KM_TOLERANCE,
    )


@dataclass
class BatchOutcome:
    """What one batch did; returned by ``UsageHandler.process`` for tests and logs."""

    entries: list[Entry] = field(default_factory=list)  # new or recomputed this batch
    inserted: int = 0
    replayed: list[Entry] = field(default_factory=list)  # already in the ledger
    late: int = 0
    duplicates: int = 0
    days: set[tuple[str, str]] = field(default_factory=set)
    published: int = 0


class UsageHandler:
    """Per batch, a constant number of round trips:

    1. read the references of the batch's machines; 2. read their registry rates; 3. (only if some
    readings are at or behind their reference) read those readings' ledger entries, to tell a replay
    from a late reading; 4. insert the ledger entries; 5. save the new references; 6. recompute the
    touched daily totals (one aggregation, one bulk upsert); 7. publish and wait for delivery.
    The loop commits the offsets only after ``handle`` returns.
    """

    def __init__(
        self,
        repository: UsageRepository | None = None,
        registry: EquipmentRegistryRepository | None = None,
        publisher: UsagePublisher | None = None,
        rules: UsageRules | None = None,
    ) -> None:
        self._repository = repository
        self._registry = registry
        self._publisher = publisher
        self._rules = rules

    @property
    def repository(self) -> UsageRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["usage"]
        return self._repository

    @property
    def registry(self) -> EquipmentRegistryRepository:
        if self._registry is None:
            from telemetry_site.backends import repositories

            self._registry = repositories["equipment_registry"]
        return self._registry

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

    def handle(self, records: Sequence[Record]) -> None:
        self.process([reading_from_record(record.value) for record in records])

    def process(self, readings: Sequence[Reading]) -> BatchOutcome:
        # Arrival order per machine is Kafka's order for its key; the rules compare event times.
        by_machine: dict[str, list[Reading]] = {}
        for reading in readings:
            by_machine.setdefault(reading.identifier, []).append(reading)
        references = self.repository.references(by_machine)
        rates = self.registry.rates(by_machine)

        outcome = BatchOutcome()
        new_references = []
        behind: list[Reading] = []
        newest: dict[str, int] = {}  # event time of each machine's reference after the batch
        for identifier, machine_readings in by_machine.items():
            result = apply_readings(references.get(identifier), machine_readings, self.rules, rates.get(identifier, ()))
            outcome.entries.extend(result.entries)
            behind.extend(result.behind)
            if result.reference is not None:
                newest[identifier] = result.reference.timestamp
            if result.reference is not None and result.reference != references.get(identifier):
                new_references.append(result.reference)

        # A reading at or behind its reference is either in the ledger already (a replay, or a
        # duplicate) or a late reading, which is kept with its flag.
        computed = {entry.id for entry in outcome.entries}
        candidates = [r for r in behind if entry_id(r.identifier, r.timestamp) not in computed]
        stored = self.repository.entries(entry_id(r.identifier, r.timestamp) for r in candidates)
        seen: set[str] = set()
        for reading in candidates:
            key = entry_id(reading.identifier, reading.timestamp)
            if key in seen:
                outcome.duplicates += 1
            elif key in stored:
                outcome.replayed.append(stored[key])
            elif reading.timestamp < newest[reading.identifier]:
                outcome.entries.append(late_entry(reading))
                outcome.late += 1
            else:
                outcome.duplicates += 1
            seen.add(key)
        outcome.duplicates += len(behind) - len(candidates)

        outcome.inserted = self.repository.insert_entries(outcome.entries)
        self.repository.save_references(new_references)
        counted = [entry for entry in outcome.entries + outcome.replayed if entry.counted]
        outcome.days = {(entry.identifier, day) for entry in counted for day in entry.dates}
        self.repository.recompute_daily(outcome.days)
        outcome.published = self.publisher.publish([record for entry in counted for record in usage_records(entry)])
        return outcome


class EquipmentRegistryHandler:
    """Stores every registry record version; the rules pick the one in effect at a given time."""

    def __init__(self, repository: EquipmentRegistryRepository | None = None) -> None:
        self._repository = repository

    @property
    def repository(self) -> EquipmentRegistryRepository:
        if self._repository is None:
            from telemetry_site.backends import repositories

            self._repository = repositories["equipment_registry"]
        return self._repository

    def handle(self, records: Sequence[Record]) -> None:
        self.repository.store(record.value for record in records)
