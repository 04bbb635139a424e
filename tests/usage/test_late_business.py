"""The rules that splice a late reading into the stored interval that spans it, and those that
re-price stored usage when a registry version arrives late (pure, no fixtures)."""

from dataclasses import replace

import pytest

from equipment_usage.business_daily import correction_records, usage_records
from equipment_usage.business_intervals import apply_readings
from equipment_usage.business_late import in_event_order, is_too_late, reference_after, repropagate, splice_late
from equipment_usage.business_ledger import UNASSIGNED, Entry, Rates, Reading, UsageRules
from equipment_usage.business_pricing import (
    governed_range,
    reprice,
    repriced,
    repricing_horizon,
    repricing_scope,
    version_key,
)

H = 3_600_000
DAY0 = 1_764_028_800_000  # 2025-11-25T00:00:00Z
RULES = UsageRules(time_zone="UTC", max_speed_kmh=60.0, hours_tolerance=0.1, km_tolerance=0.5)
RATES = [Rates(0, hourly_rate=10.0, km_rate=1.0, currency="EUR")]


def rd(ts: int, hours: float | None = None, km: float | None = None, pois: tuple[str, ...] = ()) -> Reading:
    return Reading("EX1", ts, hours, km, pois)


def chain(*readings: Reading) -> list[Entry]:
    """The stored entries of readings processed in event order."""
    return apply_readings(None, readings, RULES, RATES).entries


def summary(entries: list[Entry]) -> list[tuple]:
    return [
        (
            None if e.start is None else e.start.timestamp,
            e.end.timestamp,
            e.hours,
            e.km,
            e.flags,
            [(d.date, d.hours, d.km, [s.source for s in d.sources]) for d in e.days],
        )
        for e in entries
    ]


def test_late_reading_inside_one_day_splits_the_interval_in_two():
    p, s = rd(DAY0 + H, 10.0, 100.0, ("A",)), rd(DAY0 + 5 * H, 14.0, 140.0, ("B",))
    spanning = chain(p, s)[1]
    late = rd(DAY0 + 2 * H, 11.0, 110.0, ("C",))
    entries = splice_late(spanning, [late], RULES, RATES)
    assert summary(entries) == [
        (DAY0 + H, DAY0 + 2 * H, 1.0, 10.0, (), [("2025-11-25", 1.0, 10.0, ["A"])]),
        (DAY0 + 2 * H, DAY0 + 5 * H, 3.0, 30.0, (), [("2025-11-25", 3.0, 30.0, ["C"])]),  # where it was at L
    ]
    assert entries[1].start == reference_after(entries[0])
    assert [e.days[0].cost for e in entries] == [20.0, 60.0]  # 1 h x 10 + 10 km x 1; 3 x 10 + 30
    # the same entries as if the late reading had arrived in order
    assert entries == chain(p, late, s)[1:]


def test_late_reading_across_midnight_splits_each_part_at_midnight():
    p, s = rd(DAY0 - 2 * H, 10.0, 100.0), rd(DAY0 + 2 * H, 14.0, 140.0)
    spanning = chain(p, s)[1]
    entries = splice_late(spanning, [rd(DAY0 + H, 13.0, 130.0)], RULES, RATES)
    assert summary(entries) == [
        (
            DAY0 - 2 * H,
            DAY0 + H,
            3.0,
            30.0,
            (),
            [("2025-11-24", 2.0, 20.0, [UNASSIGNED]), ("2025-11-25", 1.0, 10.0, [UNASSIGNED])],
        ),
        (DAY0 + H, DAY0 + 2 * H, 1.0, 10.0, (), [("2025-11-25", 1.0, 10.0, [UNASSIGNED])]),
    ]
    # a late reading exactly at midnight: the part before it belongs wholly to the day before
    at_midnight = splice_late(spanning, [rd(DAY0, 12.0, 120.0)], RULES, RATES)
    assert [[d.date for d in e.days] for e in at_midnight] == [["2025-11-24"], ["2025-11-25"]]


def test_late_reading_into_an_interval_that_contained_a_reset():
    p, s = rd(DAY0, 100.0, 1000.0), rd(DAY0 + 4 * H, 3.0, 1040.0)  # hour meter replaced in between
    spanning = chain(p, s)[1]
    assert (spanning.hours, spanning.km, spanning.flags) == (None, 40.0, ("hours_reset",))
    before_reset = splice_late(spanning, [rd(DAY0 + H, 101.0, 1010.0)], RULES, RATES)
    assert [(e.hours, e.km, e.flags) for e in before_reset] == [(1.0, 10.0, ()), (None, 30.0, ("hours_reset",))]
    after_reset = splice_late(spanning, [rd(DAY0 + 3 * H, 2.5, 1030.0)], RULES, RATES)
    # the reset is now found in the first part, and the new meter's 0.5 h count in the second
    assert [(e.hours, e.km, e.flags) for e in after_reset] == [(None, 30.0, ("hours_reset",)), (0.5, 10.0, ())]


def test_late_reading_into_an_implausible_interval():
    p, s = rd(DAY0, 10.0, 1000.0), rd(DAY0 + 2 * H, 12.0, 9000.0)  # 8000 km in 2 h
    spanning = chain(p, s)[1]
    assert (spanning.hours, spanning.km, spanning.flags) == (2.0, None, ("km_implausible",))
    entries = splice_late(spanning, [rd(DAY0 + H, 11.0, 1050.0)], RULES, RATES)
    # 50 km in 1 h is within 60 km/h + 0.5; the jump is now only in the second part
    assert [(e.hours, e.km, e.flags) for e in entries] == [(1.0, 50.0, ()), (1.0, None, ("km_implausible",))]


def test_late_reading_before_the_first_becomes_the_first():
    (first,) = chain(rd(DAY0 + 2 * H, 12.0, 120.0, ("A",)))
    assert first.start is None and first.flags == ("first",)
    entries = splice_late(first, [rd(DAY0 + H, 11.0, 110.0, ("B",))], RULES, RATES)
    assert summary(entries) == [
        (None, DAY0 + H, None, None, ("first",), []),
        (DAY0 + H, DAY0 + 2 * H, 1.0, 10.0, (), [("2025-11-25", 1.0, 10.0, ["B"])]),
    ]


def test_two_late_readings_in_one_interval_with_a_duplicate():
    p, s = rd(DAY0, 10.0, 100.0), rd(DAY0 + 3 * H, 13.0, 130.0)
    spanning = chain(p, s)[1]
    late = [rd(DAY0 + 2 * H, 12.0, 120.0), rd(DAY0 + H, 11.0, 110.0), rd(DAY0 + 2 * H, 12.0, 120.0)]
    entries = splice_late(spanning, late, RULES, RATES)
    assert [(e.start.timestamp, e.end.timestamp, e.hours) for e in entries] == [
        (DAY0, DAY0 + H, 1.0),
        (DAY0 + H, DAY0 + 2 * H, 1.0),
        (DAY0 + 2 * H, DAY0 + 3 * H, 1.0),
    ]
    assert in_event_order(late) == [late[1], late[0]]


def test_a_reading_outside_the_interval_is_refused():
    spanning = chain(rd(DAY0, 1.0, 1.0), rd(DAY0 + H, 2.0, 2.0))[1]
    for ts in (DAY0, DAY0 + H, DAY0 + 2 * H, DAY0 - 1):
        with pytest.raises(ValueError, match=r"^late readings must lie strictly inside the spanning interval$"):
            splice_late(spanning, [rd(ts, 1.5, 1.5)], RULES)
    with pytest.raises(ValueError, match=r"^late readings must lie strictly inside"):  # one of several outside
        splice_late(spanning, [rd(DAY0 + H // 2, 1.5, 1.5), rd(DAY0 + H, 1.9, 1.9)], RULES)
    with pytest.raises(ValueError, match=r"^no late readings to splice$"):
        splice_late(spanning, [], RULES)


def test_before_the_first_reading_any_earlier_time_is_inside():
    """The machine's first entry has no start: every time before its reading is inside, the epoch too."""
    first = chain(rd(H, 5.0, 50.0))[0]
    entries = splice_late(first, [rd(0, 4.0, 40.0), rd(H // 2, 4.5, 45.0)], RULES, RATES)
    assert summary(entries) == [
        (None, 0, None, None, ("first",), []),
        (0, H // 2, 0.5, 5.0, (), [("1970-01-01", 0.5, 5.0, [UNASSIGNED])]),
        (H // 2, H, 0.5, 5.0, (), [("1970-01-01", 0.5, 5.0, [UNASSIGNED])]),
    ]


def test_a_missing_counter_carries_the_correction_forward_until_the_counter_reappears():
    """S has no hours: its reference keeps the previous hours. A late reading with hours changes
    that carried value, so the entry after S (which has hours again) is recomputed too."""
    p, s, n, m = rd(DAY0, 10.0, 100.0), rd(DAY0 + 2 * H, None, 120.0), rd(DAY0 + 3 * H, 13.0, 130.0), rd(DAY0 + 4 * H)
    stored = chain(p, s, n, m)
    assert [(e.hours, e.km) for e in stored[1:]] == [(None, 20.0), (3.0, 10.0), (None, None)]
    late = rd(DAY0 + H, 11.0, 110.0)
    *spliced, new_s = splice_late(stored[1], [late], RULES, RATES)
    assert reference_after(new_s) != reference_after(stored[1])  # hours now carried from L, not P
    changed, reference, agreed = repropagate(reference_after(new_s), stored[2:], RULES, RATES)
    # N: 2 h since L (not 3 h since P); M has no counter at all, so it carries N's and agrees
    assert [(e.end.timestamp, e.hours, e.start.hours_at) for e in changed] == [(DAY0 + 3 * H, 2.0, DAY0 + H)]
    assert agreed and reference == reference_after(stored[2]) == stored[3].start
    assert [*spliced, new_s, *changed, stored[3]] == chain(p, late, s, n, m)[1:]
    # walked to the end without agreeing: the machine's reference itself changes
    changed, reference, agreed = repropagate(reference_after(new_s), stored[2:3], RULES, RATES)
    assert not agreed and reference == reference_after(changed[-1])


def test_the_carried_counter_goes_on_through_several_readings_without_it():
    """S and T both lack hours: the hours carried from the late reading reach N through both."""
    p, s, t = rd(DAY0, 10.0, 100.0), rd(DAY0 + 2 * H, None, 120.0), rd(DAY0 + 3 * H, None, 130.0)
    n = rd(DAY0 + 4 * H, 14.0, 140.0)
    stored = chain(p, s, t, n)
    late = rd(DAY0 + H, 11.0, 110.0)
    *spliced, new_s = splice_late(stored[1], [late], RULES, RATES)
    changed, reference, agreed = repropagate(reference_after(new_s), stored[2:], RULES, RATES)
    assert [(e.end.timestamp, e.hours, e.km) for e in changed] == [
        (DAY0 + 3 * H, None, 10.0),
        (DAY0 + 4 * H, 3.0, 10.0),
    ]
    assert changed[1].start.hours_at == DAY0 + H  # from L, carried through S and T
    assert not agreed and reference == reference_after(changed[-1])
    assert [*spliced, new_s, *changed] == chain(p, late, s, t, n)[1:]


def test_retraction_first_then_the_new_records_with_ids_that_differ():
    p, s = rd(DAY0 - H, 10.0, 100.0), rd(DAY0 + H, 12.0, 120.0)
    old = chain(p, s)[1]
    first, new = splice_late(old, [rd(DAY0, 10.9, 110.0)], RULES, RATES)
    new = replace(new, replaced=old, corrected_by=DAY0)
    records = correction_records(new)
    assert [r["retracted"] for r in records] == [True, True, False]  # old: two days; new: one
    assert [r["record_id"] for r in records[:2]] == [r["record_id"] for r in usage_records(old)]
    new_ids = {r["record_id"] for r in usage_records(first) + usage_records(new)}
    assert new_ids.isdisjoint(r["record_id"] for r in usage_records(old))
    plain = replace(new, replaced=None, corrected_by=None)
    assert new.same_usage(plain) and plain.same_usage(new)  # the bookkeeping is ignored on both sides
    assert not plain.same_usage(replace(plain, hours=plain.hours + 1))
    assert correction_records(plain) == usage_records(plain)  # nothing replaced: only its own records
    assert Entry.from_dict(new.to_dict()) == new


def test_too_late_is_older_than_the_reference_by_more_than_the_max_age():
    rules = replace(RULES, late_max_age_days=1.0)
    reference = reference_after(chain(rd(DAY0 + 86_400_000, 1.0, 1.0))[0])
    assert is_too_late(reference, rd(DAY0 - 1), rules) is True
    assert is_too_late(reference, rd(DAY0), rules) is False  # exactly the max age: still corrected


# -- re-pricing ---------------------------------------------------------------------------------------


def test_a_version_governs_from_its_last_update_to_the_next_newer_one():
    versions = [Rates(300), Rates(100), Rates(200)]
    assert governed_range(versions, 100) == (100, 200)
    assert governed_range(versions, 200) == (200, 300)
    assert governed_range(versions, 300) == (300, None)  # the newest: open
    assert governed_range([Rates(100)], 100) == (100, None)
    assert governed_range([], 50) == (50, None)


def test_the_scope_is_the_governed_range_cut_at_the_horizon():
    versions = [Rates(100), Rates(200), Rates(300)]
    scope = repricing_scope("EX1", versions, 200, horizon=150)
    assert (scope.start, scope.end, scope.refused_before, scope.empty) == (200, 300, None, False)
    assert scope.key == version_key("EX1", 200) == "EX1|200"
    assert [scope.covers(t) for t in (199, 200, 299, 300)] == [False, True, True, False]
    exactly = repricing_scope("EX1", versions, 200, horizon=200)  # the horizon itself is re-priced
    assert (exactly.start, exactly.refused_before) == (200, None)
    cut = repricing_scope("EX1", versions, 200, horizon=250)  # older than the horizon: refused
    assert (cut.start, cut.end, cut.refused_before, cut.empty) == (250, 300, 250, False)
    assert (cut.identifier, cut.last_update, cut.key) == ("EX1", 200, "EX1|200")  # still names its version
    assert [cut.covers(t) for t in (249, 250)] == [False, True]
    gone = repricing_scope("EX1", versions, 100, horizon=250)  # wholly before it
    assert (gone.start, gone.end, gone.refused_before, gone.empty) == (250, 200, 250, True)
    edge = repricing_scope("EX1", versions, 100, horizon=200)  # its range ends at the horizon
    assert (edge.refused_before, edge.empty) == (200, True)
    open_ended = repricing_scope("EX1", versions, 300, horizon=10**15)
    assert (open_ended.end, open_ended.empty, open_ended.covers(10**16)) == (None, False, True)


def test_the_horizon_is_the_max_age_before_the_newest_reading():
    reference = reference_after(chain(rd(DAY0 + 10 * H, 1.0, 1.0))[0])
    assert repricing_horizon(reference, replace(RULES, reprice_max_age_days=0.5)) == DAY0 - 2 * H
    assert RULES.reprice_max_age_days == 30.0 and RULES.reprice_max_age_ms == 30 * 86_400_000


def test_reprice_gives_what_pricing_with_the_new_rates_would_have_given():
    p, s = rd(DAY0 - H, 10.0, 100.0, ("A", "B")), rd(DAY0 + 2 * H, 13.0, 130.0)
    dearer = [Rates(DAY0 - 2 * H, 25.0, 2.0, "CHF")]
    (_, stored) = chain(p, s)
    (_, want) = apply_readings(None, [p, s], RULES, dearer).entries
    assert reprice(stored, dearer[0]) == want and want.rates == dearer[0]
    assert [d.cost for d in want.days] == [1.0 * 25 + 10.0 * 2, 2.0 * 25 + 20.0 * 2]
    unpriced = reprice(stored, None)
    assert (unpriced.currency, unpriced.priced, unpriced.rates) == (None, False, None)
    assert [d.cost for d in unpriced.days] == [None, None]
    assert [s.cost for d in unpriced.days for s in d.sources] == [None] * 4
    assert (unpriced.days[0].hours, unpriced.days[0].sources[1].share) == (1.0, 0.5)  # usage unchanged
    no_km_rate = reprice(stored, Rates(0, 10.0, None, "EUR"))
    assert (no_km_rate.priced, no_km_rate.currency) == (False, "EUR")
    first = chain(p)[0]
    assert reprice(first, dearer[0]) is first  # counts nothing: nothing to price


def test_repriced_is_none_when_the_price_stays_and_retracts_the_old_amounts_otherwise():
    p, s = rd(DAY0 - H, 10.0, 100.0), rd(DAY0 + H, 12.0, 120.0)
    stored = chain(p, s)[1]
    assert repriced(stored, RATES[0], "EX1|0") is None  # a replay
    assert repriced(stored, Rates(5, 10.0, 1.0, "EUR"), "EX1|5") is None  # a new version, same rates
    new = repriced(stored, Rates(5, 20.0, 1.0, "EUR"), "EX1|5")
    assert new is not None and (new.repriced_by, new.replaced, new.rates) == (
        "EX1|5",
        stored,
        Rates(5, 20.0, 1.0, "EUR"),
    )
    assert [d.cost for d in new.days] == [20.0 + 10.0, 20.0 + 10.0]
    assert repriced(stored, Rates(5, 10.0, 1.0, "USD"), "EX1|5") is not None  # another currency
    gap = replace(reprice(stored, None), rates=None)  # a gap: no version was in effect
    filled = repriced(gap, RATES[0], "EX1|0")
    assert filled is not None and filled.priced and not gap.priced
    records = correction_records(new)
    assert [r["retracted"] for r in records] == [True, True, False, False]
    assert [r["record_id"] for r in records[:2]] == [r["record_id"] for r in records[2:]]  # same ids
    assert [r["cost_sources"][0]["cost"] for r in records] == [20.0, 20.0, 30.0, 30.0]  # old, then new
    assert not new.same_usage(stored) and new.same_usage(replace(new, replaced=None, repriced_by=None))


def test_repricing_keeps_the_version_a_late_reading_replaced_and_drops_earlier_repricings():
    p, s = rd(DAY0 - H, 10.0, 100.0), rd(DAY0 + H, 12.0, 120.0)
    before_split = chain(p, s)[1]
    late, after_split = splice_late(before_split, [rd(DAY0, 10.9, 110.0)], RULES, RATES)
    corrected = replace(after_split, replaced=before_split, corrected_by=DAY0, repriced_by="EX1|0")
    once = repriced(corrected, Rates(5, 20.0, 1.0, "EUR"), "EX1|5")
    # the late correction's version (other record ids) is kept one level down, bare
    assert once.replaced.replaced == before_split and once.corrected_by == DAY0
    assert (once.replaced.corrected_by, once.replaced.repriced_by) == (None, None)
    records = correction_records(once)
    old_ids, new_ids = (
        [r["record_id"] for r in usage_records(before_split)],
        [r["record_id"] for r in usage_records(once)],
    )
    assert [r["record_id"] for r in records] == old_ids + new_ids + new_ids
    assert [r["retracted"] for r in records] == [True] * (len(old_ids) + len(new_ids)) + [False] * len(new_ids)
    twice = repriced(once, Rates(6, 30.0, 1.0, "EUR"), "EX1|6")
    assert twice.replaced.replaced == before_split  # still that one, not the first re-pricing
    assert [d.cost for d in twice.replaced.days] == [d.cost for d in once.days]
    plain = repriced(after_split, Rates(5, 20.0, 1.0, "EUR"), "EX1|5")
    assert plain.replaced.replaced is None
    again = repriced(plain, Rates(6, 30.0, 1.0, "EUR"), "EX1|6")
    assert again.replaced.replaced is None and again.replaced == replace(plain, replaced=None, repriced_by=None)
    assert late.end.timestamp == DAY0
