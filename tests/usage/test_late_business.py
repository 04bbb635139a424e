"""The rules that splice a late reading into the stored interval that spans it (pure, no fixtures)."""

from dataclasses import replace

import pytest

from equipment_usage.business import (
    UNASSIGNED,
    Entry,
    Rates,
    Reading,
    UsageRules,
    apply_readings,
    correction_records,
    in_event_order,
    is_too_late,
    reference_after,
    repropagate,
    splice_late,
    usage_records,
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
