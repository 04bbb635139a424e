"""Usage rules: late readings spliced into the stored interval that spans them, and corrections carried
forward.

Pure: no Django, pymongo or Kafka; state comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from equipment_usage.business_intervals import advance_reference, apply_readings, entry_for
from equipment_usage.business_ledger import TOO_LATE, Entry, Rates, Reading, Reference, UsageRules


def in_event_order(readings: Iterable[Reading]) -> list[Reading]:
    """Distinct readings by event time, oldest first; of two with one event time the first wins."""
    distinct: dict[int, Reading] = {}
    for reading in readings:
        distinct.setdefault(reading.timestamp, reading)
    return [distinct[timestamp] for timestamp in sorted(distinct)]


def reference_after(entry: Entry) -> Reference:
    """The machine's reference once ``entry``'s reading is processed."""
    return advance_reference(entry.start, entry.end)


def is_too_late(reference: Reference, reading: Reading, rules: UsageRules) -> bool:
    """Older than its machine's reference by more than ``late_max_age_days``: not spliced in."""
    return reading.timestamp < reference.timestamp - rules.late_max_age_ms


def too_late_entry(reading: Reading) -> Entry:
    """A reading too old to correct the ledger with: kept, counted nowhere, flagged."""
    return Entry(reading.identifier, None, reading, None, None, (TOO_LATE,))


def splice_late(
    spanning: Entry, late: Iterable[Reading], rules: UsageRules, rate_versions: Sequence[Rates] = ()
) -> list[Entry]:
    """Place late readings into the stored interval that spans them.

    ``spanning`` is the stored entry P -> S (its ``start`` is the reference after P), or the
    machine's first entry S when the readings are older than every stored one (no start). Each late
    reading must lie strictly inside: after P, before S. Returns the entries of the late readings,
    oldest first, and last the new entry of S (from the newest late reading), all computed with the
    same rules as any entry. The stored P -> S entry is what the last one replaces.
    """
    readings = in_event_order(late)
    if not readings:
        raise ValueError("no late readings to splice")
    oldest, newest = readings[0].timestamp, readings[-1].timestamp
    if (spanning.start is not None and oldest <= spanning.start.timestamp) or newest >= spanning.end.timestamp:
        raise ValueError("late readings must lie strictly inside the spanning interval")
    return apply_readings(spanning.start, [*readings, spanning.end], rules, rate_versions).entries


def repropagate(
    reference: Reference, following: Sequence[Entry], rules: UsageRules, rate_versions: Sequence[Rates] = ()
) -> tuple[list[Entry], Reference, bool]:
    """Carry a corrected reference forward through the stored entries that follow it.

    A reading that lacks a counter keeps the previous reference's value for it, so correcting one
    entry can change the start of the next ones until a reading that has the counter again. Walks
    ``following`` (oldest first, the first one right after ``reference``) and recomputes each entry
    whose start differs. Returns the recomputed entries, the reference after the last one walked,
    and whether the walk met an entry whose start already agrees (nothing further changes).
    """
    changed: list[Entry] = []
    for stored in following:
        if stored.start == reference:
            return changed, reference, True
        changed.append(entry_for(reference, stored.end, rules, rate_versions))
        reference = advance_reference(reference, stored.end)
    return changed, reference, False
