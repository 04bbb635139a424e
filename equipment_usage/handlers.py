"""Consumer handler of the usage service: telemetry -> usage ledger. The registry's handler (rates,
re-pricing) is ``equipment_usage.handlers_registry``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from equipment_usage.business_daily import correction_records
from equipment_usage.business_intervals import apply_readings, reading_from_record
from equipment_usage.business_late import (
    in_event_order,
    is_too_late,
    reference_after,
    repropagate,
    splice_late,
    too_late_entry,
)
from equipment_usage.business_ledger import Entry, Rates, Reading, Reference, UsageRules, bare, entry_id
from equipment_usage.business_pricing import rates_at, repriced
from equipment_usage.metrics import usage_batch
from equipment_usage.publisher import UsagePublisher
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_registry import EquipmentRegistryRepository
from equipment_usage.repricing import Repricer
from stream.consumer import Record


def usage_rules() -> UsageRules:
    from django.conf import settings

    return UsageRules(
        time_zone=settings.USAGE_TIME_ZONE,
        max_speed_kmh=settings.USAGE_MAX_SPEED_KMH,
        hours_tolerance=settings.USAGE_HOURS_TOLERANCE,
        km_tolerance=settings.USAGE_KM_TOLERANCE,
        late_max_age_days=settings.USAGE_LATE_READING_MAX_AGE_DAYS,
        reprice_max_age_days=settings.USAGE_REPRICE_MAX_AGE_DAYS,
    )


@dataclass
class BatchOutcome:
    """What one batch did; returned by ``UsageHandler.process`` for tests and logs."""

    entries: list[Entry] = field(default_factory=list)  # new entries computed this batch
    inserted: int = 0
    corrected: list[Entry] = field(default_factory=list)  # stored entries replaced by late readings
    replayed: list[Entry] = field(default_factory=list)  # already in the ledger
    late: int = 0  # late readings spliced into the ledger
    too_late: int = 0  # late readings older than USAGE_LATE_READING_MAX_AGE_DAYS, stored flagged
    duplicates: int = 0
    days: set[tuple[str, str]] = field(default_factory=set)
    published: int = 0
    repriced: list[Entry] = field(default_factory=list)  # re-priced: the registry changed meanwhile


@dataclass
class Correction:
    """One machine's corrections in a batch (see ``UsageHandler.correct``)."""

    entries: list[Entry] = field(default_factory=list)  # entries of the late readings (inserted)
    replacements: list[tuple[Entry, Entry]] = field(default_factory=list)  # (stored, corrected), newest first
    reference: Reference | None = None  # the machine's reference, if the correction changed it


# How many following entries one round trip of a correction's forward walk reads.
WALK_PAGE = 20


class UsageHandler:
    """Per batch, a bounded number of round trips (docs/USAGE.md, "The consumer, per batch"):

    1. read the references of the batch's machines; 2. read their registry rates; 3. (only if some
    readings are at or behind their reference) read those readings' ledger entries, their
    successors and the entries they corrected, to tell a replay from a late reading; 4. (only if
    some are late) read the stored intervals that span them; 5. insert the new ledger entries;
    6. (only if late readings split intervals) replace the split entries; 7. save the new
    references; 8. recompute the touched daily totals (one aggregation, one bulk upsert); 9. publish
    (retractions first) and wait for delivery. The loop commits the offsets only after ``handle``
    returns. A correction whose carried counters reach past the spanning entry reads the following
    entries, ``WALK_PAGE`` at a time, until they agree.
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

    @property
    def repricer(self) -> Repricer:
        return Repricer(self.repository, self.registry, self.rules)

    def open_kafka_clients(self) -> None:
        """Open the publisher's producer; ``build_consumer_loop`` calls this with the loop's other
        Kafka clients, so that it is connected by the time the consumer has joined its group."""
        self.publisher.open()

    def handle(self, records: Sequence[Record]) -> None:
        usage_batch(self.process([reading_from_record(record.value) for record in records]))

    def process(self, readings: Sequence[Reading]) -> BatchOutcome:
        by_machine: dict[str, list[Reading]] = {}
        for reading in readings:
            by_machine.setdefault(reading.identifier, []).append(reading)
        references = self.repository.references(by_machine)
        rates = self.registry.rates(by_machine)
        outcome = BatchOutcome()

        # Each machine's distinct readings in event order: those after its reference extend the
        # ledger; those at or behind it are replays, or late readings to splice in.
        forward: dict[str, list[Reading]] = {}
        behind: dict[str, list[Reading]] = {}
        for identifier, machine_readings in by_machine.items():
            ordered = in_event_order(machine_readings)
            outcome.duplicates += len(machine_readings) - len(ordered)
            reference = references.get(identifier)
            newest = None if reference is None else reference.timestamp
            forward[identifier] = [r for r in ordered if newest is None or r.timestamp > newest]
            behind[identifier] = [r for r in ordered if newest is not None and r.timestamp <= newest]

        republish: dict[str, Entry] = {}
        late: dict[str, list[Reading]] = {}
        wanted = {identifier: [r.timestamp for r in rs] for identifier, rs in behind.items() if rs}
        stored = self.repository.behind_entries(wanted) if wanted else {}
        starts = {(e.identifier, e.start.timestamp) for e in stored.values() if e.start is not None}
        corrected_by: dict[tuple[str, int], list[Entry]] = {}
        for entry in stored.values():
            if entry.corrected_by is not None:
                corrected_by.setdefault((entry.identifier, entry.corrected_by), []).append(entry)
        for identifier, machine_behind in behind.items():
            reference = references.get(identifier)
            for reading in machine_behind:
                assert reference is not None
                own = stored.get(entry_id(identifier, reading.timestamp))
                if own is not None and not own.chained:
                    outcome.duplicates += 1  # a too-late reading again
                elif own is not None and (
                    reading.timestamp == reference.timestamp or (identifier, reading.timestamp) in starts
                ):
                    # A replay: the chain already runs through it. Republish it and what it corrected.
                    outcome.replayed.append(own)
                    for entry in [own, *corrected_by.get((identifier, reading.timestamp), [])]:
                        republish[entry.id] = entry
                elif own is None and is_too_late(reference, reading, self.rules):
                    outcome.entries.append(too_late_entry(reading))
                    outcome.too_late += 1
                else:
                    # Late; or stored but not yet chained (a crash between the two writes of its
                    # correction): splice it in, the same way.
                    late.setdefault(identifier, []).append(reading)

        corrections: dict[str, Correction] = {}
        if late:
            spans = self.repository.spanning_entries(
                {identifier: [r.timestamp for r in rs] for identifier, rs in late.items()}
            )
            for identifier, machine_late in late.items():
                mine = [span for span in spans if span.identifier == identifier]
                correction = self.correct(identifier, machine_late, mine, rates.get(identifier, ()))
                corrections[identifier] = correction
                outcome.entries.extend(correction.entries)
                outcome.late += sum(1 for entry in correction.entries if entry.chained)
                outcome.too_late += sum(1 for entry in correction.entries if not entry.chained)

        new_references, corrected_references = [], []
        appended: list[Entry] = []  # the chains extended forward: their daily totals are added to
        for identifier, machine_forward in forward.items():
            stored_reference = references.get(identifier)
            correction = corrections.get(identifier)  # most machines have none: no empty Correction per machine
            corrected_reference = None if correction is None else correction.reference
            result = apply_readings(
                corrected_reference or stored_reference, machine_forward, self.rules, rates.get(identifier, ())
            )
            outcome.entries.extend(result.entries)
            appended.extend(result.entries)
            outcome.duplicates += len(result.behind)
            if result.reference is not None and result.reference != (corrected_reference or stored_reference):
                new_references.append(result.reference)
            elif corrected_reference is not None:
                corrected_references.append(corrected_reference)

        replacements = [pair for correction in corrections.values() for pair in correction.replacements]
        outcome.corrected = [new for _, new in replacements]
        outcome.inserted = self.repository.insert_entries(outcome.entries)
        self.repository.replace_entries(replacements)  # after the inserts: see docs/USAGE.md
        self.repository.save_references(new_references, corrected_references)

        if republish:  # replays only: most batches have none, and an entry's id is built per call
            for entry in outcome.entries + outcome.corrected:
                republish.pop(entry.id, None)
        published = [*outcome.corrected, *outcome.entries, *republish.values()]
        newest = {identifier: reference.timestamp for identifier, reference in references.items()}
        for entry in published:
            newest[entry.identifier] = max(newest.get(entry.identifier, entry.end.timestamp), entry.end.timestamp)
        outcome.repriced = self.reprice_if_rates_changed(published, outcome, newest)
        touched = [*published, *outcome.repriced, *(old for old, _ in replacements)]
        outcome.days = {(entry.identifier, day) for entry in touched if entry.counted for day in entry.dates}
        # Totals of forward entries are added to; those a correction or a replay touched are
        # recomputed from the ledger.
        forward_ids = {id(entry) for entry in appended}
        rebuilt = {
            (entry.identifier, day)
            for entry in touched
            if entry.counted and id(entry) not in forward_ids
            for day in entry.dates
        }
        self.repository.update_daily(appended, rebuilt)
        records = [record for entry in [*published, *outcome.repriced] for record in correction_records(entry)]
        outcome.published = self.publisher.publish(records)
        return outcome

    def reprice_if_rates_changed(
        self, published: list[Entry], outcome: BatchOutcome, newest: dict[str, int]
    ) -> list[Entry]:
        """Read the rates again now that the ledger is written; re-price the batch's entries that
        they price differently (a version stored after this batch read the rates, whose re-pricing
        pass read the ledger before these entries were written), and, after a replay whose inserts
        met stored entries (a crash), those entries, whose stored price this batch did not compute.
        Like the registry's, back to ``USAGE_REPRICE_MAX_AGE_DAYS`` before each machine's ``newest``
        reading. One ``find`` when nothing changed (docs/USAGE.md, "Rate changes")."""
        identifiers = sorted(newest)
        stored = self.registry.rates(identifiers)
        max_age = self.rules.reprice_max_age_ms

        def recent(entry: Entry) -> bool:
            return (
                entry.counted
                and entry.start is not None
                and entry.start.timestamp >= newest[entry.identifier] - max_age
            )

        unknown = outcome.inserted < len(outcome.entries)  # inserts met stored entries: read them back
        stale = [
            (entry.identifier, entry.end.timestamp)
            for entry in published
            if recent(entry)
            and (
                unknown
                or repriced(entry, rates_at(stored.get(entry.identifier, ()), entry.start.timestamp), None) is not None
            )
        ]
        if not stale:
            return []
        return self.repricer.reprice_entries(stale, identifiers, stored).repriced

    def correct(
        self, identifier: str, late: Sequence[Reading], spans: Sequence[Entry], rate_versions: Sequence[Rates]
    ) -> Correction:
        """Splice one machine's late readings into its ledger.

        ``spans`` are the stored entries that span them (or its first entry, for readings older than
        every stored one). Intervals are corrected oldest first; when a corrected reference differs
        from the stored one after the split interval (the successor lacked a counter the late reading
        has), the following entries are read and recomputed until one agrees, so a later interval of
        the same batch is split in its corrected version. Entries are replaced newest first, so that
        a stored late reading whose successor already starts at it is fully corrected.
        """
        rules = self.rules
        current: dict[int, Entry] = {span.end.timestamp: span for span in spans}
        original: dict[int, Entry] = dict(current)
        groups: dict[int, list[Reading]] = {}
        correction = Correction()
        for reading in late:
            around = [
                span
                for span in spans
                if span.end.timestamp > reading.timestamp
                and (span.start is None or span.start.timestamp < reading.timestamp)
            ]
            if not around:  # nothing stored around it (older ledger pruned): it cannot be placed
                correction.entries.append(too_late_entry(reading))
                continue
            groups.setdefault(min(span.end.timestamp for span in around), []).append(reading)

        for end in sorted(groups):
            span = current[end]
            *spliced, successor = splice_late(span, groups[end], rules, rate_versions)
            cause = max(reading.timestamp for reading in groups[end])
            correction.entries.extend(spliced)
            current[end] = replace(successor, corrected_by=cause)
            before, after = reference_after(span), reference_after(successor)
            position = end
            while before != after:
                following = self.repository.entries_after(identifier, position, WALK_PAGE)
                for entry in following:
                    original.setdefault(entry.end.timestamp, entry)
                following = [current.setdefault(entry.end.timestamp, entry) for entry in following]
                changed, after, agreed = repropagate(after, following, rules, rate_versions)
                for entry in changed:
                    current[entry.end.timestamp] = replace(entry, corrected_by=cause)
                if agreed:
                    break
                if len(following) < WALK_PAGE:  # walked to the newest reading: the reference changes
                    correction.reference = after
                    break
                position = following[-1].end.timestamp

        for end in sorted(current, reverse=True):
            old, new = original[end], current[end]
            if not new.same_usage(old):
                correction.replacements.append((old, replace(new, replaced=bare(old))))
        return correction
