"""Pure rules of the usage service: plain functions, no fixtures, no Django."""

import hashlib
import inspect
from dataclasses import MISSING, FrozenInstanceError, asdict, fields, replace
from datetime import date

import pytest

from equipment_usage.business_daily import (
    allocate,
    local_day_bounds,
    local_midnight_ms,
    record_id,
    split_by_day,
    timestamp_to_date,
    usage_records,
)
from equipment_usage.business_intervals import (
    advance_reference,
    apply_readings,
    classify_reading,
    compute_delta,
    counter_delta,
    extract_poi_list,
    reading_from_record,
    should_compute_delta,
)
from equipment_usage.business_late import too_late_entry
from equipment_usage.business_ledger import (
    UNASSIGNED,
    DayUsage,
    Delta,
    Entry,
    Rates,
    Reading,
    Reference,
    SourceUsage,
    UsageRules,
    day_document,
    entry_id,
    reading_document,
    reference_document,
)
from equipment_usage.business_pricing import get_cost_sources, price, rates_at
from tests.factories import telemetry

H = 3_600_000
DAY0 = 1_764_028_800_000  # 2025-11-25T00:00:00Z
RULES = UsageRules(time_zone="UTC", max_speed_kmh=60.0, hours_tolerance=0.1, km_tolerance=0.5)


def ref(ts=DAY0, hours=100.0, km=5000.0, pois=(), identifier="EX1"):
    return Reference(identifier, ts, hours, None if hours is None else ts, km, None if km is None else ts, tuple(pois))


def rd(ts, hours=None, km=None, pois=(), identifier="EX1"):
    return Reading(identifier, ts, hours, km, tuple(pois))


# -- extraction ------------------------------------------------------------------------------------


def test_extract_poi_list_keeps_order_drops_duplicates_and_nameless():
    record = telemetry(pois=["B", "A", "B"])
    record["location"]["pointsOfInterest"].append({"name": ""})
    record["location"]["pointsOfInterest"].append("not a dict")
    assert extract_poi_list(record) == ["B", "A"]
    assert extract_poi_list({"identifier": "X"}) == []
    assert extract_poi_list({"location": None}) == []


def test_reading_from_record():
    reading = reading_from_record(telemetry("EX9", 1234, hours=12.5, km=None, pois=["S1"]))
    assert reading == Reading("EX9", 1234, 12.5, None, ("S1",))
    assert reading_from_record({"identifier": "X", "timestamp": 1, "c40": None}) == Reading("X", 1, None, None, ())


# -- ordering --------------------------------------------------------------------------------------


def test_classify_first_duplicate_late_next():
    reference = ref(DAY0)
    assert classify_reading(None, rd(DAY0)) == "first"
    assert classify_reading(reference, rd(DAY0)) == "duplicate"
    assert classify_reading(reference, rd(DAY0 - 1)) == "late"
    assert classify_reading(reference, rd(DAY0 + 1)) == "next"
    assert should_compute_delta(reference, rd(DAY0 + 1)) is True
    assert should_compute_delta(reference, rd(DAY0)) is False
    assert should_compute_delta(reference, rd(DAY0 - 1)) is False
    assert should_compute_delta(None, rd(DAY0)) is False


def test_advance_reference_keeps_the_old_counter_where_the_reading_has_none():
    first = advance_reference(None, rd(DAY0, hours=None, km=10.0, pois=["A"]))
    assert first == Reference("EX1", DAY0, None, None, 10.0, DAY0, ("A",))
    second = advance_reference(first, rd(DAY0 + H, hours=5.0, km=None))
    assert second == Reference("EX1", DAY0 + H, 5.0, DAY0 + H, 10.0, DAY0, ())


# -- deltas ----------------------------------------------------------------------------------------


def test_compute_delta_normal():
    delta = compute_delta(ref(DAY0, 100.0, 5000.0), rd(DAY0 + 2 * H, 101.5, 5010.0), RULES)
    assert delta == Delta(2 * H, 1.5, 10.0, ())


def test_zero_increase_is_a_delta_of_zero_not_nothing():
    delta = compute_delta(ref(DAY0, 100.0, 5000.0), rd(DAY0 + H, 100.0, 5000.0), RULES)
    assert delta == Delta(H, 0.0, 0.0, ())


def test_missing_counter_gives_no_delta_for_that_counter_only():
    assert compute_delta(ref(), rd(DAY0 + H, None, 5020.0), RULES) == Delta(H, None, 20.0, ("hours_missing",))
    assert compute_delta(ref(), rd(DAY0 + H, 100.5, None), RULES) == Delta(H, 0.5, None, ("km_missing",))


def test_counter_never_seen_before_starts_its_reference():
    reference = Reference("EX1", DAY0, None, None, 5000.0, DAY0, ())
    assert compute_delta(reference, rd(DAY0 + H, 7.0, 5001.0), RULES) == Delta(H, None, 1.0, ("hours_first",))


def test_counter_going_backwards_is_a_reset():
    delta = compute_delta(ref(DAY0, 100.0, 5000.0), rd(DAY0 + H, 99.99, 5001.0), RULES)
    assert delta == Delta(H, None, 1.0, ("hours_reset",))
    delta = compute_delta(ref(DAY0, 100.0, 5000.0), rd(DAY0 + H, 100.5, 0.0), RULES)
    assert delta == Delta(H, 0.5, None, ("km_reset",))


def test_hours_tolerance_boundary_is_inclusive():
    # one elapsed hour + 0.1 h tolerance: 1.1 h is plausible, anything more is not
    assert counter_delta("hours", 100.0, 0, 101.1, H, 1.0, 0.1)[0] == pytest.approx(1.1)
    assert counter_delta("hours", 100.0, 0, 101.125, H, 1.0, 0.125) == (1.125, None)
    assert counter_delta("hours", 100.0, 0, 101.25, H, 1.0, 0.125) == (None, "hours_implausible")
    assert counter_delta("hours", 100.0, 0, 100.125, 0, 1.0, 0.125) == (0.125, None)
    assert counter_delta("hours", 100.0, 0, 100.25, 0, 1.0, 0.125) == (None, "hours_implausible")


def test_implausible_hours_and_speed():
    delta = compute_delta(ref(DAY0, 100.0, 5000.0), rd(DAY0 + H, 102.0, 5010.0), RULES)
    assert delta == Delta(H, None, 10.0, ("hours_implausible",))
    # 60 km/h for 2 h + 0.5 km tolerance = 120.5 km at most
    assert compute_delta(ref(), rd(DAY0 + 2 * H, 100.0, 5120.5), RULES).km == 120.5
    delta = compute_delta(ref(), rd(DAY0 + 2 * H, 100.0, 5120.75), RULES)
    assert delta == Delta(2 * H, 0.0, None, ("km_implausible",))


def test_elapsed_time_of_a_counter_runs_from_its_own_last_value():
    # hours last known 3 h ago (the reading in between had none): 2.5 h in 3 h is plausible
    reference = Reference("EX1", DAY0 + 2 * H, 100.0, DAY0, 5000.0, DAY0 + 2 * H, ())
    assert compute_delta(reference, rd(DAY0 + 3 * H, 102.5, 5000.0), RULES) == Delta(H, 2.5, 0.0, ())


# -- days ------------------------------------------------------------------------------------------


def test_timestamp_to_date_at_midnight_and_in_a_time_zone():
    assert timestamp_to_date(DAY0) == "2025-11-25"
    assert timestamp_to_date(DAY0 - 1) == "2025-11-24"
    assert timestamp_to_date(DAY0 - H, "Europe/Rome") == "2025-11-25"  # 00:00 CET
    assert timestamp_to_date(DAY0 - H - 1, "Europe/Rome") == "2025-11-24"


def test_split_at_midnight_in_proportion_to_time():
    pieces = split_by_day(DAY0 - 3 * H, DAY0 + H)
    assert pieces == [("2025-11-24", DAY0 - 3 * H, DAY0), ("2025-11-25", DAY0, DAY0 + H)]
    days = allocate(Delta(4 * H, 4.0, 100.0), DAY0 - 3 * H, DAY0 + H, ["A"], None)
    assert [(d.date, d.hours, d.km) for d in days] == [("2025-11-24", 3.0, 75.0), ("2025-11-25", 1.0, 25.0)]


def test_interval_ending_exactly_at_midnight_belongs_to_the_day_before():
    assert split_by_day(DAY0 - H, DAY0) == [("2025-11-24", DAY0 - H, DAY0)]
    assert split_by_day(DAY0, DAY0 + H) == [("2025-11-25", DAY0, DAY0 + H)]
    assert split_by_day(DAY0, DAY0) == [("2025-11-25", DAY0, DAY0)]


def test_interval_spanning_several_days():
    pieces = split_by_day(DAY0 - H, DAY0 + 24 * H + H)
    assert [(d, e - s) for d, s, e in pieces] == [("2025-11-24", H), ("2025-11-25", 24 * H), ("2025-11-26", H)]


def test_dst_days_in_rome_have_23_and_25_hours():
    spring = local_midnight_ms(date(2026, 3, 29), "Europe/Rome")
    autumn = local_midnight_ms(date(2026, 10, 25), "Europe/Rome")
    assert spring == 1_774_738_800_000  # 2026-03-28T23:00:00Z
    assert autumn == 1_792_879_200_000  # 2026-10-24T22:00:00Z
    # From the midnight before to the midnight after: 23 h in March, 25 h in October.
    assert split_by_day(spring, spring + 23 * H, "Europe/Rome") == [("2026-03-29", spring, spring + 23 * H)]
    assert split_by_day(autumn, autumn + 25 * H, "Europe/Rome") == [("2026-10-25", autumn, autumn + 25 * H)]
    # An interval from 23:00 the day before to 01:00 the day after the spring change: 1 h, 23 h, 1 h.
    pieces = split_by_day(spring - H, spring + 24 * H, "Europe/Rome")
    assert [(d, (e - s) // H) for d, s, e in pieces] == [("2026-03-28", 1), ("2026-03-29", 23), ("2026-03-30", 1)]
    days = allocate(Delta(25 * H, 25.0, None), spring - H, spring + 24 * H, [], None, "Europe/Rome")
    assert [d.hours for d in days] == [1.0, 23.0, 1.0]
    assert days[1].km is None


def test_a_local_day_is_named_and_ends_at_the_next_local_midnight():
    assert local_day_bounds(date(2026, 3, 29), "Europe/Rome") == ("2026-03-29", 1_774_738_800_000 + 23 * H)
    assert local_day_bounds(date(2026, 10, 25), "Europe/Rome") == ("2026-10-25", 1_792_879_200_000 + 25 * H)
    assert local_day_bounds(date(2025, 12, 31), "UTC") == ("2025-12-31", 1_767_225_600_000)  # 2026-01-01T00:00Z


# -- cost sources and prices -----------------------------------------------------------------------


def test_cost_sources_equal_shares_and_unassigned():
    assert get_cost_sources(["A", "B"]) == [("A", 0.5), ("B", 0.5)]
    assert get_cost_sources(["A", "B", "A"]) == [("A", 0.5), ("B", 0.5)]
    assert get_cost_sources(["A"]) == [("A", 1.0)]
    assert get_cost_sources([]) == [(UNASSIGNED, 1.0)]
    assert UNASSIGNED == "unassigned"


def test_rates_in_effect_are_the_newest_at_or_before_the_instant():
    versions = [Rates(100, 10.0), Rates(300, 30.0), Rates(200, 20.0)]
    assert rates_at(versions, 99) is None
    assert rates_at(versions, 100).hourly_rate == 10.0
    assert rates_at(versions, 299).hourly_rate == 20.0
    assert rates_at(versions, 300).hourly_rate == 30.0
    assert rates_at([], 1000) is None


def test_price():
    rates = Rates(0, hourly_rate=50.0, km_rate=2.0, currency="EUR")
    assert price(2.0, 10.0, rates) == 120.0
    assert price(None, 10.0, rates) == 20.0
    assert price(2.0, None, rates) == 100.0
    assert price(0.0, 0.0, rates) == 0.0
    assert price(2.0, 10.0, None) is None
    assert price(2.0, 10.0, Rates(0, hourly_rate=50.0)) is None  # km used, no km rate
    assert price(2.0, 0.0, Rates(0, hourly_rate=50.0)) == 100.0  # no km used: its rate does not matter


def test_equal_shares_across_two_sites_with_cost():
    rates = Rates(0, hourly_rate=50.0, km_rate=2.0, currency="EUR")
    (day,) = allocate(Delta(2 * H, 2.0, 10.0), DAY0, DAY0 + 2 * H, ["North", "South"], rates)
    assert day.hours == 2.0 and day.km == 10.0 and day.cost == 120.0
    assert [(s.source, s.share, s.hours, s.km, s.cost) for s in day.sources] == [
        ("North", 0.5, 1.0, 5.0, 60.0),
        ("South", 0.5, 1.0, 5.0, 60.0),
    ]


# -- a machine's readings --------------------------------------------------------------------------


def test_apply_readings_first_duplicate_late_reset_implausible():
    rates = [Rates(DAY0 - H, hourly_rate=10.0, km_rate=1.0, currency="EUR")]
    readings = [
        rd(DAY0, 100.0, 1000.0, ["A"]),  # first
        rd(DAY0 + H, 100.5, 1010.0, ["B"]),  # 0.5 h, 10 km charged to A (where it was at the start)
        rd(DAY0 + H, 100.5, 1010.0, ["B"]),  # duplicate
        rd(DAY0 + H - 1, 100.4, 1009.0),  # late
        rd(DAY0 + 2 * H, 3.0, 1020.0),  # hours reset; 10 km charged to B
        rd(DAY0 + 3 * H, 4.0, 9000.0),  # km implausible; 1 h unassigned
        rd(DAY0 + 4 * H, 4.5, 9010.0, ["A"]),  # km counted from the implausible value
    ]
    result = apply_readings(None, readings, RULES, rates)
    assert [(e.end.timestamp, e.hours, e.km, e.flags) for e in result.entries] == [
        (DAY0, None, None, ("first",)),
        (DAY0 + H, 0.5, 10.0, ()),
        (DAY0 + 2 * H, None, 10.0, ("hours_reset",)),
        (DAY0 + 3 * H, 1.0, None, ("km_implausible",)),
        (DAY0 + 4 * H, 0.5, 10.0, ()),
    ]
    assert [r.timestamp for r in result.behind] == [DAY0 + H, DAY0 + H - 1]
    sources = [[s.source for s in e.days[0].sources] for e in result.entries[1:]]
    assert sources == [["A"], ["B"], [UNASSIGNED], [UNASSIGNED]]
    assert [e.days[0].cost for e in result.entries[1:]] == [15.0, 10.0, 10.0, 15.0]
    assert all(e.priced and e.currency == "EUR" for e in result.entries[1:])
    assert result.reference == Reference("EX1", DAY0 + 4 * H, 4.5, DAY0 + 4 * H, 9010.0, DAY0 + 4 * H, ("A",))
    assert result.entries[1].start == Reference("EX1", DAY0, 100.0, DAY0, 1000.0, DAY0, ("A",))


def test_no_rates_at_the_interval_start_means_null_cost_but_usage_counts():
    rates = [Rates(DAY0 + 30 * 60_000, hourly_rate=10.0)]  # registered after the interval started
    result = apply_readings(ref(DAY0, 1.0, None), [rd(DAY0 + H, 2.0, None)], RULES, rates)
    (entry,) = result.entries
    assert entry.hours == 1.0 and entry.km is None
    assert entry.days[0].cost is None and entry.priced is False and entry.currency is None


def test_entry_that_counts_nothing_has_no_days():
    result = apply_readings(ref(DAY0, 100.0, 10.0), [rd(DAY0 + H, 1.0, 1.0)], RULES)
    (entry,) = result.entries
    assert entry.flags == ("hours_reset", "km_reset") and not entry.counted and entry.days == ()
    assert usage_records(entry) == []


def test_entry_round_trips_through_its_document():
    result = apply_readings(ref(DAY0 - H, 1.0, 1.0, ["A", "B"]), [rd(DAY0 + H, 3.0, 5.0)], RULES, [Rates(0, 1.0, 1.0)])
    (entry,) = result.entries
    data = entry.to_dict()
    assert data["interval_start"] == DAY0 - H and data["interval_end"] == DAY0 + H
    assert data["dates"] == ["2025-11-24", "2025-11-25"] and data["counted"] is True
    assert Entry.from_dict(data) == entry
    late = too_late_entry(rd(5, 1.0))
    assert Entry.from_dict(late.to_dict()) == late and late.flags == ("too_late",) and late.id == "EX1|5"
    assert late.chained is False and entry.chained is True


def test_record_ids_are_deterministic_per_day_and_name_both_ends():
    start = ref(2, 1.0, 1.0)
    assert record_id("EX1", start, 5, "2025-11-25") == hashlib.sha1(b"EX1|2|2|2|5|2025-11-25").hexdigest()
    assert record_id("EX1", start, 5, "2025-11-25") != record_id("EX1", start, 5, "2025-11-24")
    assert record_id("EX1", start, 5, "2025-11-25") != record_id("EX1", ref(3, 1.0, 1.0), 5, "2025-11-25")
    carried = Reference("EX1", 2, 1.0, 1, 1.0, 2)  # hours last read at 1, before the start's own time
    assert record_id("EX1", carried, 5, "2025-11-25") != record_id("EX1", start, 5, "2025-11-25")
    assert entry_id("EX1", 5) == "EX1|5"


def test_usage_records_one_per_day():
    rates = [Rates(0, 10.0, 1.0, "EUR")]
    result = apply_readings(ref(DAY0 - H, 1.0, 1.0, ["A"]), [rd(DAY0 + H, 3.0, 5.0)], RULES, rates)
    records = usage_records(result.entries[0])
    assert [(r["date"], r["interval_start"], r["interval_end"], r["delta_hours"], r["delta_km"]) for r in records] == [
        ("2025-11-24", DAY0 - H, DAY0, 1.0, 2.0),
        ("2025-11-25", DAY0, DAY0 + H, 1.0, 2.0),
    ]
    assert records[0]["record_id"] == record_id("EX1", ref(DAY0 - H), DAY0 + H, "2025-11-24")
    assert records[0]["cost_sources"] == [{"source": "A", "share": 1.0, "hours": 1.0, "km": 2.0, "cost": 12.0}]
    assert records[0]["currency"] == "EUR" and records[0]["retracted"] is False


def test_values_are_immutable():
    values = [
        RULES,
        rd(1),
        ref(),
        Rates(0),
        Delta(0, None, None),
        too_late_entry(rd(1)),
        allocate(Delta(H, 1.0, 1.0), DAY0, DAY0 + H, [], None)[0],
        allocate(Delta(H, 1.0, 1.0), DAY0, DAY0 + H, [], None)[0].sources[0],
    ]
    for value in values:
        with pytest.raises(FrozenInstanceError):
            value.identifier = "changed"


def test_entries_that_count_nothing_are_not_priced():
    assert too_late_entry(rd(1)).priced is False
    assert apply_readings(None, [rd(1, 1.0, 1.0)], RULES).entries[0].priced is False


def test_entry_round_trip_keeps_the_points_of_interest_of_both_readings():
    (entry,) = apply_readings(ref(DAY0, 1.0, 1.0, ["A"]), [rd(DAY0 + H, 1.5, 2.0, ["B", "C"])], RULES).entries
    restored = Entry.from_dict(entry.to_dict())
    assert restored.start.pois == ("A",) and restored.end.pois == ("B", "C")


def test_counter_without_a_time_has_no_reference():
    assert counter_delta("hours", 5.0, None, 6.0, H, 1.0, 0.1) == (None, "hours_first")
    assert counter_delta("km", None, 0, 6.0, H, 60.0, 0.1) == (None, "km_first")


def test_empty_interval_is_one_whole_part():
    (day,) = allocate(Delta(0, 1.0, 2.0), DAY0, DAY0, [], None)
    assert (day.date, day.start, day.end, day.hours, day.km) == ("2025-11-25", DAY0, DAY0, 1.0, 2.0)


def test_reading_carries_the_odometer():
    assert reading_from_record(telemetry("EX9", 1234, hours=None, km=7.5)) == Reading("EX9", 1234, None, 7.5, ())


def test_advance_reference_keeps_the_old_hours_and_drops_the_time_of_a_counter_never_seen():
    assert advance_reference(None, rd(DAY0, hours=1.0, km=None)) == Reference("EX1", DAY0, 1.0, DAY0, None, None, ())
    kept = advance_reference(ref(DAY0, hours=7.0, km=5.0), rd(DAY0 + H, hours=None, km=6.0))
    assert kept == Reference("EX1", DAY0 + H, 7.0, DAY0, 6.0, DAY0 + H, ())


def test_a_counter_missing_from_one_reading_is_counted_from_its_last_value_at_the_next():
    readings = [rd(DAY0 + H, 101.0, None), rd(DAY0 + 2 * H, 102.0, 5010.0)]
    result = apply_readings(ref(DAY0, 100.0, 5000.0), readings, RULES)
    assert [(e.hours, e.km) for e in result.entries] == [(1.0, None), (1.0, 10.0)]


def test_entries_name_their_machine_and_readings_whether_counted_or_not():
    first = apply_readings(None, [rd(DAY0, 1.0, 1.0, identifier="EX7")], RULES).entries[0]
    assert (first.identifier, first.id) == ("EX7", f"EX7|{DAY0}")
    start = ref(DAY0, 100.0, 10.0, identifier="EX7")
    reading = rd(DAY0 + H, 1.0, 1.0, identifier="EX7")  # both counters reset: counts nothing
    (entry,) = apply_readings(start, [reading], RULES).entries
    assert (entry.identifier, entry.start, entry.end, entry.counted) == ("EX7", start, reading, False)


def test_a_machine_s_days_are_cut_at_midnight_in_the_rules_time_zone():
    rome = UsageRules(time_zone="Europe/Rome", max_speed_kmh=60.0, hours_tolerance=0.1, km_tolerance=0.5)
    (entry,) = apply_readings(ref(DAY0 - 2 * H, 1.0, None), [rd(DAY0 - H // 2, 2.5, None)], rome).entries
    assert [(d.date, d.start, d.end, d.hours) for d in entry.days] == [
        ("2025-11-24", DAY0 - 2 * H, DAY0 - H, 1.0),  # midnight in Rome is 23:00 UTC
        ("2025-11-25", DAY0 - H, DAY0 - H // 2, 0.5),
    ]


def test_empty_interval_is_dated_in_the_time_zone():
    assert split_by_day(DAY0 - H // 2, DAY0 - H // 2, "Europe/Rome") == [("2025-11-25", DAY0 - H // 2, DAY0 - H // 2)]


def test_the_currency_is_published_and_kept_in_the_ledger_document():
    rates = [Rates(0, 10.0, 1.0, "EUR")]
    (entry,) = apply_readings(ref(DAY0, 1.0, 1.0), [rd(DAY0 + H, 2.0, 2.0)], RULES, rates).entries
    assert entry.to_dict()["currency"] == "EUR"
    assert Entry.from_dict(entry.to_dict()).currency == "EUR"
    (record,) = usage_records(entry)
    assert (record["identifier"], record["currency"]) == ("EX1", "EUR")


# -- stored shapes built by hand: exactly what dataclasses.asdict gives ------------------------------


def exactly(document, expected):
    """Equal, with the same key order (BSON keeps it) and the same types (a tuple is not a list)."""
    assert list(document.items()) == list(expected.items())
    for key, value in expected.items():
        assert type(document[key]) is type(value), key


def test_reading_and_reference_documents_are_their_asdict():
    readings = [rd(DAY0, 1.5, 2.5, ["A", "B"], "EX7"), rd(0), rd(-1, 0.0, None, ["A"]), rd(DAY0, None, 0.0)]
    for reading in readings:
        exactly(reading_document(reading), asdict(reading))
    assert reading_document(rd(5, 1.0, 2.0, ["A"])) == {
        "identifier": "EX1",
        "timestamp": 5,
        "hours": 1.0,
        "km": 2.0,
        "pois": ("A",),
    }
    references = [ref(DAY0, 1.0, 2.0, ["A", "B"], "EX7"), ref(0, None, None), Reference("EX1", 9, 1.0, 3, None, None)]
    for reference in references:
        exactly(reference_document(reference), asdict(reference))
    assert reference_document(Reference("EX2", 9, 1.0, 3, 4.0, 5, ("P",))) == {
        "identifier": "EX2",
        "timestamp": 9,
        "hours": 1.0,
        "hours_at": 3,
        "km": 4.0,
        "km_at": 5,
        "pois": ("P",),
    }


def test_day_documents_are_their_asdict():
    rates = [Rates(0, 10.0, 2.0, "EUR")]
    days = [
        *allocate(Delta(2 * H, 2.0, 30.0), DAY0 - H, DAY0 + H, ["A", "B", "C"], rates[0]),  # two days, three sources
        *allocate(Delta(H, 1.0, None), DAY0, DAY0 + H, [], None),  # unassigned, unpriced, no km
        *allocate(Delta(0, 0.0, 0.0), DAY0, DAY0, ["A"], Rates(0)),  # empty interval, zero usage
    ]
    for day in days:
        document = day_document(day)
        exactly(document, asdict(day))
        for part, expected in zip(document["sources"], asdict(day)["sources"], strict=True):
            exactly(part, expected)
    (day,) = allocate(Delta(H, 1.0, 2.0), DAY0, DAY0 + H, ["A"], Rates(0, 10.0, 1.0))
    assert day_document(day) == {
        "date": "2025-11-25",
        "start": DAY0,
        "end": DAY0 + H,
        "hours": 1.0,
        "km": 2.0,
        "cost": 12.0,
        "sources": ({"source": "A", "share": 1.0, "hours": 1.0, "km": 2.0, "cost": 12.0},),
    }


def asdict_document(entry):
    """The ledger document as it was built with dataclasses.asdict, before it was built by hand."""
    return {
        "identifier": entry.identifier,
        "interval_start": None if entry.start is None else entry.start.timestamp,
        "interval_end": entry.end.timestamp,
        "start": None if entry.start is None else asdict(entry.start),
        "end": asdict(entry.end),
        "hours": entry.hours,
        "km": entry.km,
        "flags": list(entry.flags),
        "counted": entry.counted,
        "dates": entry.dates,
        "days": [asdict(day) for day in entry.days],
        "currency": entry.currency,
        "priced": entry.priced,
        "replaced": None if entry.replaced is None else asdict_document(entry.replaced),
        "corrected_by": entry.corrected_by,
        "rates": None if entry.rates is None else asdict(entry.rates),
        "repriced_by": entry.repriced_by,
    }


def test_entry_documents_are_what_asdict_built():
    rates = [Rates(0, 10.0, 1.0, "EUR")]
    readings = [rd(DAY0 - H, 1.0, 1.0, ["A", "B"]), rd(DAY0 + H, 3.0, 5.0), rd(DAY0 + 2 * H, 1.0, None, ["C"])]
    entries = apply_readings(None, readings, RULES, rates).entries  # first, counted over two days, reset
    entries.append(too_late_entry(rd(5, None, 2.0)))
    corrected = replace(entries[1], replaced=replace(entries[1], flags=("late",)), corrected_by=DAY0)
    entries.append(corrected)
    entries.append(replace(corrected, rates=Rates(5, None, 2.0, None), repriced_by="EX1|5"))
    assert [e.counted for e in entries] == [False, True, False, False, True, True]
    for entry in entries:
        document, expected = entry.to_dict(), asdict_document(entry)
        exactly(document, expected)
        assert document["days"] == expected["days"] and document["replaced"] == expected["replaced"]
        assert Entry.from_dict(document) == entry


# -- the written-out __init__ of the frozen values ---------------------------------------------------

HOT_VALUES = [Reading, Reference, Delta, SourceUsage, DayUsage, Entry]


@pytest.mark.parametrize("cls", HOT_VALUES, ids=lambda cls: cls.__name__)
def test_written_out_inits_take_the_fields_in_order_with_their_defaults(cls):
    parameters = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.default) for p in parameters] == [
        (f.name, inspect.Parameter.empty if f.default is MISSING else f.default) for f in fields(cls)
    ]
    values = [object() for _ in parameters]  # distinct values: a swapped or dropped field shows
    by_position, by_name = cls(*values), cls(**{p.name: v for p, v in zip(parameters, values, strict=True)})
    for value in (by_position, by_name):
        assert [getattr(value, f.name) for f in fields(cls)] == values
        assert list(vars(value)) == [f.name for f in fields(cls)]
        with pytest.raises(FrozenInstanceError):
            setattr(value, parameters[0].name, "changed")
    assert by_position == by_name and hash(by_position) == hash(by_name)
    changed = replace(by_position, **{parameters[-1].name: "other"})
    assert getattr(changed, parameters[-1].name) == "other" and changed != by_position


def test_written_out_inits_fill_in_the_defaults():
    assert vars(Reading("EX1", 1, None, None)) == {
        "identifier": "EX1",
        "timestamp": 1,
        "hours": None,
        "km": None,
        "pois": (),
    }
    assert Reference("EX1", 1, None, None, None, None).pois == ()
    assert Delta(1, None, None).events == ()
    entry = Entry("EX1", None, rd(1), None, None, ("first",))
    assert (entry.days, entry.currency, entry.priced, entry.replaced, entry.corrected_by) == (
        (),
        None,
        False,
        None,
        None,
    )
    assert (entry.rates, entry.repriced_by) == (None, None)
