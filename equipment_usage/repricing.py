"""Re-pricing stored usage when a registry version changes its price (docs/USAGE.md, "Rate changes").

One piece of code for both places a price can go stale:

- the registry consumer (``EquipmentRegistryHandler``) re-prices the intervals whose starts fall in
  the range each of its batch's versions now governs (``repricing_scope``), back to
  ``USAGE_REPRICE_MAX_AGE_DAYS`` before the machine's newest reading;
- the usage consumer (``UsageHandler``) re-prices its own batch's entries when the registry changed
  while it computed them (a version stored after it read the rates, whose re-pricing pass read the
  ledger before its entries were written).

Each run reads the versions and the candidates, re-prices with the pure rules (``repriced``), and
writes each new version as a compare-and-swap on the start and rates it came from; a swap that
fails (a late reading or another re-pricing changed the entry meanwhile) is retried on fresh
versions and entries, so the last writer always priced with what was stored when it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from equipment_usage.business_ledger import Entry, Rates, UsageRules
from equipment_usage.business_pricing import (
    RepricingScope,
    rates_at,
    repriced,
    repricing_horizon,
    repricing_scope,
    version_key,
)
from equipment_usage.repository import UsageRepository
from equipment_usage.repository_documents import ConcurrentCorrection
from equipment_usage.repository_registry import EquipmentRegistryRepository

# Compare-and-swap rounds before giving up with ConcurrentCorrection (a TransientError: the loop
# retries the batch). Each round is lost only to another writer that changed the same entry.
ATTEMPTS = 5


@dataclass
class RepricingOutcome:
    repriced: list[Entry] = field(default_factory=list)  # new versions written by this run
    republished: list[Entry] = field(default_factory=list)  # found already re-priced by these versions
    scopes: list[RepricingScope] = field(default_factory=list)  # what each version re-prices
    versions: dict[str, list[Rates]] = field(default_factory=dict)  # the versions it priced with

    @property
    def refused(self) -> list[RepricingScope]:
        return [scope for scope in self.scopes if scope.refused_before is not None]

    @property
    def published(self) -> list[Entry]:
        return [*self.repriced, *self.republished]


class Repricer:
    def __init__(self, repository: UsageRepository, registry: EquipmentRegistryRepository, rules: UsageRules) -> None:
        self.repository = repository
        self.registry = registry
        self.rules = rules

    def reprice_versions(self, versions: dict[str, Iterable[int]]) -> RepricingOutcome:
        """Re-price what the stored versions ``{identifier: [last_update, ...]}`` govern, and find
        the entries they re-priced before (a replay after a crash republishes them)."""
        keys = {
            identifier: sorted(version_key(identifier, at) for at in set(times))
            for identifier, times in versions.items()
        }
        references = self.repository.references(versions)

        def scopes(stored: dict[str, list[Rates]]) -> list[RepricingScope]:
            found = []
            for identifier, times in sorted(versions.items()):
                reference = references.get(identifier)
                if reference is None:  # no usage stored for this machine: nothing to re-price
                    continue
                horizon = repricing_horizon(reference, self.rules)
                found += [
                    repricing_scope(identifier, stored.get(identifier, ()), at, horizon) for at in sorted(set(times))
                ]
            return found

        return self._run(list(versions), scopes, keys, ())

    def reprice_entries(
        self, entries: Iterable[tuple[str, int]], identifiers: Iterable[str], stored: dict[str, list[Rates]]
    ) -> RepricingOutcome:
        """Re-price the ``entries`` (identifier, interval end) of machines ``identifiers`` with the
        stored versions, read as ``stored`` a moment ago (the first round uses them)."""
        return self._run(list(identifiers), lambda _stored: [], {}, sorted(set(entries)), stored)

    def _run(
        self,
        identifiers: list[str],
        scopes_of: Callable[[dict[str, list[Rates]]], list[RepricingScope]],
        keys: dict[str, list[str]],
        entries: Iterable[tuple[str, int]],
        stored: dict[str, list[Rates]] | None = None,
    ) -> RepricingOutcome:
        outcome = RepricingOutcome()
        entries = list(entries)  # read every round
        written: dict[str, Entry] = {}
        pending: dict[str, Entry] = {}  # written by a round whose swaps did not all match: confirmed by re-reading
        for attempt in range(ATTEMPTS + 1):
            if stored is None or attempt:
                stored = self.registry.rates(identifiers)
            scopes = scopes_of(stored)
            wanted = [*entries, *((new.identifier, new.end.timestamp) for new in pending.values())]
            candidates = self.repository.repricing_candidates(scopes, keys, wanted)
            for entry_id, new in pending.items():
                if candidates.get(entry_id) == new:
                    written[entry_id] = new
            plan = []
            for entry in candidates.values():
                if entry.start is None or not entry.counted:
                    continue
                rates = rates_at(stored.get(entry.identifier, ()), entry.start.timestamp)
                cause = None if rates is None else version_key(entry.identifier, rates.last_update)
                new = repriced(entry, rates, cause)
                if new is not None:
                    plan.append((entry, new))
            outcome.scopes, outcome.versions = scopes, stored
            if not plan:
                break
            if attempt == ATTEMPTS:
                raise ConcurrentCorrection(f"re-pricing lost {ATTEMPTS} rounds to other writers")
            matched = self.repository.write_repriced(plan)
            pending = {new.id: new for _, new in plan}
            if matched == len(plan):
                written.update(pending)
                break
        outcome.repriced = sorted(written.values(), key=lambda entry: (entry.identifier, entry.end.timestamp))
        wanted = {key for machine_keys in keys.values() for key in machine_keys}
        outcome.republished = sorted(
            (entry for entry in candidates.values() if entry.repriced_by in wanted and entry.id not in written),
            key=lambda entry: (entry.identifier, entry.end.timestamp),
        )
        return outcome
