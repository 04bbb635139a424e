"""The fleet simulator's pure rules: no Django, no fixtures, no broker."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from fastavro.validation import validate

from devstack.fleet import DRIVE, IDLE, OFF, SITES, TRANSPORT, SimulatedEvent
from devstack.simulator import FleetSimulator, utc_ms
from stream.codecs import DecodeError, JsonCodec, load_schema, parse_schema_text
from stream.validation import validate_telemetry

ROME = ZoneInfo("Europe/Rome")
MONDAY = utc_ms(datetime(2026, 1, 5, tzinfo=ROME))  # local midnight starting a Monday
DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000
STEP = 60_000
FAULTS = {"duplicate_rate": 0.05, "late_rate": 0.03, "garbage_rate": 0.01, "reset_rate": 0.1}


def run(days: float = 7, machines: int = 12, seed: int = 3, start_ms: int = MONDAY, **options) -> list[SimulatedEvent]:
    simulator = FleetSimulator(machines=machines, seed=seed, start_ms=start_ms, **options)
    return list(simulator.events(until_ms=start_ms + round(days * DAY)))


@cache
def week() -> tuple[FleetSimulator, tuple[SimulatedEvent, ...]]:
    """A week of 12 machines with every fault switched on (shared: building it takes a second)."""
    simulator = FleetSimulator(machines=12, seed=3, start_ms=MONDAY, **FAULTS)
    return simulator, tuple(simulator.events(until_ms=MONDAY + 7 * DAY))


def readings(events) -> dict[str, list[SimulatedEvent]]:
    """Each machine's telemetry without duplicates, in event-time order."""
    by_machine = defaultdict(list)
    for event in events:
        if event.kind == "telemetry" and not event.duplicate:
            by_machine[event.key].append(event)
    return {key: sorted(items, key=lambda e: e.timestamp) for key, items in by_machine.items()}


def pairs(events):
    """Consecutive readings of the same machine."""
    for items in readings(events).values():
        yield from pairwise(items)


def odometry(event: SimulatedEvent) -> tuple[float, float]:
    value = event.value["c40"]["odometry"]
    return value["hours_tot"], value["km_tot"]


def gps(event: SimulatedEvent) -> tuple[float, float] | None:
    fix = event.value["location"]["GPS"]
    return None if fix is None else (fix["latitude"], fix["longitude"])


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine, written again here so the test does not trust the module's own geometry."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def local(event: SimulatedEvent) -> datetime:
    return datetime.fromtimestamp(event.timestamp / 1000, ROME)


# --- determinism ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_events_and_another_seed_does_not():
    first, again, other = run(days=1, seed=5, **FAULTS), run(days=1, seed=5, **FAULTS), run(days=1, seed=6, **FAULTS)
    assert len(first) > 1000
    assert first == again
    assert [e.value for e in first] != [e.value for e in other]


def test_faults_leave_the_fleet_behaviour_unchanged():
    clean = readings(run(days=2))
    faulty = readings(run(days=2, duplicate_rate=0.2, late_rate=0.2, garbage_rate=0.2))
    assert {k: [e.value for e in v] for k, v in faulty.items()} == {k: [e.value for e in v] for k, v in clean.items()}


def test_events_continue_where_a_bounded_run_stopped():
    whole = run(days=2, **FAULTS)
    simulator = FleetSimulator(machines=12, seed=3, start_ms=MONDAY, **FAULTS)
    halves = list(simulator.events(until_ms=MONDAY + DAY)) + list(simulator.events(until_ms=MONDAY + 2 * DAY))
    # Late messages held back at the first bound are flushed there, so compare what was sent, not when.
    assert sorted((e.timestamp, e.key, e.kind, e.duplicate, repr(e.value)) for e in halves) == sorted(
        (e.timestamp, e.key, e.kind, e.duplicate, repr(e.value)) for e in whole
    )


@pytest.mark.parametrize(
    "options",
    [{"machines": 0}, {"step_seconds": 0}, {"duplicate_rate": 1.5}, {"late_rate": -0.1}, {"late_by_seconds": 0}],
)
def test_impossible_settings_are_refused(options):
    with pytest.raises(ValueError):
        FleetSimulator(**options)


# --- records -------------------------------------------------------------------------------------


def test_registry_records_come_first_one_per_machine_then_rate_updates():
    events = run(days=3, machines=8, registry_update_rate=1.0)
    first = events[:8]
    assert [e.kind for e in first] == ["registry"] * 8
    assert len({e.key for e in first}) == 8
    assert {e.key for e in events if e.kind == "telemetry"} == {e.key for e in first}
    for event in first:
        record = event.value
        assert record["identifier"] == event.key and record["last_update"] == MONDAY == event.timestamp
        assert record["currency"] == "EUR" and record["hourly_rate"] > 0 and record["serial_number"]
        assert record["brand"] and record["model"]
    updates = [e for e in events[8:] if e.kind == "registry"]
    # Every machine gets a new price list at the start of each of the two following days.
    assert len(updates) == 16
    initial = {e.key: e.value["hourly_rate"] for e in first}
    assert all(u.value["last_update"] == u.timestamp > MONDAY for u in updates)
    assert any(u.value["hourly_rate"] != initial[u.key] for u in updates)


def test_every_record_matches_its_avro_schema_and_the_plausibility_rules():
    _, events = week()
    telemetry_schema = parse_schema_text(json.dumps(load_schema("c40_enriched.avsc"), sort_keys=True))
    registry_schema = parse_schema_text(json.dumps(load_schema("equipment_registry.avsc"), sort_keys=True))
    codec = JsonCodec("c40_enriched.avsc")
    checked = 0
    # fastavro's validation is slow in pure Python: every 20th message, plus every unusual shape.
    sample = [
        e
        for i, e in enumerate(events)
        if i % 20 == 0 or e.kind == "registry" or (e.kind == "telemetry" and gps(e) is None)
    ]
    for event in sample:
        if event.kind == "telemetry":
            assert validate(event.value, telemetry_schema, raise_errors=True, strict=True)
            assert codec.decode(codec.encode(event.value)) == event.value
            assert validate_telemetry(event.value, now_ms=MONDAY + 7 * DAY) == []
            checked += 1
        elif event.kind == "registry":
            assert validate(event.value, registry_schema, raise_errors=True, strict=True)
    assert checked > 1_500


def test_the_fleet_mixes_makes_and_models_and_identifiers_say_the_kind():
    events = run(days=0.01, machines=60)
    models = {(e.value["brand"], e.value["model"]) for e in events if e.kind == "registry"}
    assert len(models) >= 6
    prefixes = {"320": "EX", "336": "EX", "PC210": "EX", "EC220": "EX", "L90": "WL", "LTM 1050": "CR"}
    prefixes |= {"B30E": "DT", "3CX": "BH"}
    for event in events:
        if event.kind == "registry":
            assert event.key[:2] == prefixes[event.value["model"]]


# --- behaviour -----------------------------------------------------------------------------------


def test_counters_only_grow_except_at_a_recorded_reset():
    simulator, events = week()
    assert simulator.resets, "a reset rate of 0.1 per working day must reset some of 12 machines in a week"
    resets = defaultdict(list)
    for reset in simulator.resets:
        resets[reset.identifier].append(reset.at)
    seen_resets = 0
    for before, after in pairs(events):
        (hours0, km0), (hours1, km1) = odometry(before), odometry(after)
        used0, used1 = before.value["c40"]["fuel"]["used_tot_l"], after.value["c40"]["fuel"]["used_tot_l"]
        if any(before.timestamp < at <= after.timestamp for at in resets[after.key]):
            seen_resets += 1
            assert hours1 < 1 and km1 < 10 and used1 < 50, "a new ECU starts near zero"
            continue
        assert hours1 >= hours0 and km1 >= km0 and used1 >= used0
        # Engine hours never outrun the clock (the usage service rejects such a delta).
        assert hours1 - hours0 <= (after.timestamp - before.timestamp) / HOUR + 1e-9
    assert seen_resets == len(simulator.resets)


def test_idling_counts_hours_but_no_km_and_stands_still():
    idle_pairs = 0
    for before, after in pairs(week()[1]):
        if before.activity == after.activity == IDLE and after.timestamp - before.timestamp == STEP:
            idle_pairs += 1
            (hours0, km0), (hours1, km1) = odometry(before), odometry(after)
            assert km1 == km0
            assert hours1 - hours0 == pytest.approx(STEP / HOUR)
            if gps(before) and gps(after):
                assert gps(before) == gps(after)
    assert idle_pairs > 100


def test_driving_counts_km_and_an_engine_off_counts_nothing():
    drives = off = 0
    for before, after in pairs(week()[1]):
        (hours0, km0), (hours1, km1) = odometry(before), odometry(after)
        if before.activity == after.activity == DRIVE and after.timestamp - before.timestamp == STEP:
            drives += 1
            assert km1 > km0
        if before.activity in (OFF, TRANSPORT) and after.activity in (OFF, TRANSPORT):
            off += 1
            assert (hours1, km1) == (hours0, km0)
            assert after.value["c40"]["fuel"]["used_tot_l"] == before.value["c40"]["fuel"]["used_tot_l"]
    assert drives > 20 and off > 100


def test_machines_move_at_plausible_speeds():
    fastest = 0.0
    for before, after in pairs(week()[1]):
        hours = (after.timestamp - before.timestamp) / HOUR
        (_, km0), (_, km1) = odometry(before), odometry(after)
        if km1 >= km0:  # not across a reset
            assert (km1 - km0) / hours <= 80
        if gps(before) and gps(after):
            speed = metres(gps(before), gps(after)) / 1000 / hours
            assert speed <= 80, (before, after)
            fastest = max(fastest, speed)
    assert fastest > 20, "some machine must travel by road, or the check above proves nothing"


def test_points_of_interest_are_exactly_the_sites_within_1000_m():
    with_poi = without_poi = 0
    for event in week()[1]:
        if event.kind != "telemetry":
            continue
        location = event.value["location"]
        if location["GPS"] is None:
            assert location["pointsOfInterest"] is None and location["address"] is None
            continue
        names = {poi["name"] for poi in location["pointsOfInterest"]}
        expected = {s.name for s in SITES if metres(gps(event), (s.latitude, s.longitude)) <= 1000}
        assert names == expected
        with_poi += bool(names)
        without_poi += not names
    assert with_poi > 5000 and without_poi > 100


def test_some_reports_lack_a_gps_fix():
    simulator, events = week()
    missing = sum(1 for e in events if e.kind == "telemetry" and gps(e) is None)
    assert missing == simulator.counters.without_gps > 0


def test_engines_run_only_in_weekday_shifts_with_a_lunch_break_and_some_evening_overtime():
    running = [e for e in week()[1] if e.kind == "telemetry" and e.value["c40"]["engine"]["running"]]
    assert len(running) > 10_000
    overtime = set()
    for event in running:
        moment = local(event)
        assert moment.weekday() != 6, "nobody works on Sunday"
        assert "06:40" <= moment.strftime("%H:%M") <= "20:00"
        if moment.strftime("%H:%M") > "17:30":  # overtime: weekdays only, up to 150 min past the shift
            assert moment.weekday() < 5
            overtime.add((event.key, moment.date()))
        assert not "12:30" <= moment.strftime("%H:%M") < "12:45", "everyone is at lunch"
    assert overtime, "some machines work into the evening (off-hours use)"


def test_around_the_clock_machines_also_run_at_night_and_on_sunday():
    sunday = MONDAY - DAY
    events = run(days=1, machines=6, start_ms=sunday, around_the_clock=True)
    night = [e for e in events if e.kind == "telemetry" and e.value["c40"]["engine"]["running"] and local(e).hour < 5]
    assert len(night) > 100


def test_a_share_of_around_the_clock_machines_works_sunday_night_and_the_rest_keep_their_shifts():
    """``make run``'s fleet (docs/SIMULATOR.md): live data at any hour from a fifth of the machines,
    while the others keep weekday shifts, so after-hours alerts and utilisation mean something."""
    sunday = MONDAY - DAY
    simulator = FleetSimulator(machines=40, seed=3, start_ms=sunday, around_the_clock_share=0.2)
    events = list(simulator.events(until_ms=sunday + DAY))
    nightly = {m.identifier for m in simulator.machines if m.around_the_clock}
    assert 4 <= len(nightly) <= 14  # a fifth of 40, drawn per machine
    running = {e.key for e in events if e.kind == "telemetry" and e.value["c40"]["engine"]["running"]}
    assert running <= nightly, "on a Sunday only the around-the-clock machines run"
    assert len(running) >= len(nightly) - 2  # 5 % of machine-days are absences, theirs too
    at_night = {
        e.key for e in events if e.kind == "telemetry" and e.value["c40"]["engine"]["running"] and local(e).hour < 5
    }
    assert at_night == running
    # The same machines with or without the share: the draw does not disturb the rest of the fleet.
    plain = FleetSimulator(machines=40, seed=3, start_ms=sunday)
    assert [(m.identifier, m.model, m.sites) for m in plain.machines] == [
        (m.identifier, m.model, m.sites) for m in simulator.machines
    ]
    assert not any(m.around_the_clock for m in plain.machines)
    assert all(m.around_the_clock for m in FleetSimulator(machines=5, around_the_clock=True).machines)
    with pytest.raises(ValueError, match="around_the_clock_share"):
        FleetSimulator(machines=1, around_the_clock_share=1.5)


def test_reports_every_step_while_running_and_a_heartbeat_while_off():
    for before, after in pairs(week()[1]):
        gap = after.timestamp - before.timestamp
        if before.value["c40"]["engine"]["running"]:
            assert gap == STEP, "a running box reports every step, and once more at key-off"
        else:
            assert STEP <= gap <= 30 * MINUTE
            if not after.value["c40"]["engine"]["running"]:
                assert gap == 30 * MINUTE


def test_fuel_level_stays_in_the_tank_and_drops_while_working():
    drops = 0
    for before, after in pairs(week()[1]):
        level0, level1 = before.value["c40"]["fuel"]["level_pct"], after.value["c40"]["fuel"]["level_pct"]
        assert 0 <= level1 <= 100
        if before.activity == after.activity == "work" and level1 < level0:
            drops += 1
    assert drops > 100


# --- faults --------------------------------------------------------------------------------------


def test_fault_counts_are_exact_and_close_to_the_configured_rates():
    simulator, events = week()
    counters = simulator.counters
    telemetry = [e for e in events if e.kind == "telemetry"]
    originals = [e for e in telemetry if not e.duplicate]
    assert counters.telemetry == len(telemetry)
    assert counters.duplicates == sum(e.duplicate for e in telemetry)
    assert counters.late == sum(e.late for e in originals)
    assert counters.garbage == sum(e.kind == "garbage" for e in events)
    assert counters.registry == sum(e.kind == "registry" for e in events)
    assert counters.heartbeats == sum(not e.value["c40"]["engine"]["running"] for e in telemetry)
    n = len(originals)
    assert n > 20_000
    # Binomial counts: 5 standard deviations either side.
    for observed, rate in ((counters.duplicates, 0.05), (counters.late, 0.03), (counters.garbage, 0.01)):
        assert abs(observed - n * rate) <= 5 * math.sqrt(n * rate * (1 - rate)), (observed, rate)


def test_a_duplicate_is_the_same_message_again_right_after_it():
    events = week()[1]
    duplicates = 0
    for index, event in enumerate(events):
        if event.duplicate:
            duplicates += 1
            original = events[index - 1]
            assert not original.duplicate and (original.key, original.value) == (event.key, event.value)
    assert duplicates > 100


def test_events_come_in_event_time_order_except_late_ones():
    events = week()[1]
    assert [e.emitted_at for e in events] == sorted(e.emitted_at for e in events)
    on_time = [e.timestamp for e in events if not e.late]
    assert on_time == sorted(on_time)
    overtaken = 0
    newest = 0
    for event in events:
        if event.late:
            assert event.emitted_at > event.timestamp
            assert event.emitted_at - event.timestamp <= 15 * MINUTE
            overtaken += newest > event.timestamp
        newest = max(newest, event.timestamp)
    assert overtaken > 100, "late messages must arrive after newer ones"


def test_garbage_is_bytes_that_no_codec_decodes():
    garbage = [e for e in week()[1] if e.kind == "garbage"]
    assert len(garbage) > 50
    codec = JsonCodec("c40_enriched.avsc")
    for event in garbage:
        assert isinstance(event.value, bytes) and event.value[0] != 0  # not the Avro wire format's magic byte
        with pytest.raises(DecodeError):
            codec.decode(event.value)
