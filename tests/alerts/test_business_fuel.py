"""Refuels and fuel drains (pure): stationary pairs, the threshold max(10 L, 3 % of the tank) at its
edge, episodes merged within 15 minutes, the fuel burnt meanwhile, and an episode still open."""

from __future__ import annotations

from equipment_alerts.business import FUEL_DRAIN, MINUTE_MS, REFUEL, Finding, Reading, RuleConfig
from equipment_alerts.business_fuel import fuel_drains, is_moving, refuels
from equipment_utilisation.business import distance_m

MONDAY_9 = 1_796_634_000_000  # 2026-12-07 09:00 UTC
PARKED = {"latitude": 45.0, "longitude": 9.0}


def rule(kind: str, tank_l: float = 400.0, **options) -> RuleConfig:
    return RuleConfig(key=f"builtin:{kind}", kind=kind, tank_capacity_l=tank_l, **options)


def tank(levels: list[float], used: list[float] | None = None, start: int = MONDAY_9, **fields) -> list[Reading]:
    """One reading a minute with these levels (and fuel used), parked unless told otherwise."""
    used = used or [500.0] * len(levels)
    fields = fields or PARKED
    return [
        Reading(start + i * MINUTE_MS, level_pct=level, fuel_used_l=u, **fields)
        for i, (level, u) in enumerate(zip(levels, used, strict=True))
    ]


def at(minute: float) -> int:
    return MONDAY_9 + int(minute * MINUTE_MS)


# --- moving or stationary ----------------------------------------------------------------------------


def test_exactly_50_m_apart_is_stationary():
    # At the equator this step north is exactly 50 m by the haversine the rules use.
    north = 0.000449660181862269
    assert distance_m(0.0, 9.0, north, 9.0) == 50.0
    here, there = Reading(0, latitude=0.0, longitude=9.0), Reading(1, latitude=north, longitude=9.0)
    assert not is_moving(here, there)
    assert is_moving(here, Reading(1, latitude=0.00045, longitude=9.0))


def test_without_gps_the_odometer_decides_moving_beyond_0_05_km():
    assert not is_moving(Reading(0, km=0.0), Reading(1, km=0.05))
    assert is_moving(Reading(0, km=0.0), Reading(1, km=0.051))
    assert not is_moving(Reading(0, km=1200.0), Reading(1, km=1200.0))  # a large odometer, parked
    assert is_moving(Reading(0, km=1200.0), Reading(1, km=1199.9))  # either way


def test_without_gps_nor_odometer_a_machine_is_assumed_stationary():
    assert not is_moving(Reading(0), Reading(1))
    (refuel,) = refuels(tank([20, 80, 80], running=False), rule(REFUEL))
    assert refuel.value == 240.0


def test_a_parked_machine_on_its_odometer_refuels():
    (refuel,) = refuels(tank([20, 80, 80], km=1200.0), rule(REFUEL))
    assert refuel.value == 240.0


def test_a_refuel_after_driving_is_still_found():
    driving = [Reading(at(i), level_pct=50.0, latitude=45.0 + i * 0.001, longitude=9.0) for i in range(3)]
    parked = tank([50, 80] + [80] * 20, start=at(3), latitude=45.002, longitude=9.0)
    (refuel,) = refuels([*driving, *parked], rule(REFUEL))
    assert (refuel.start, refuel.end, refuel.value) == (at(3), at(4), 120.0)


# --- volume and threshold ----------------------------------------------------------------------------


def test_the_volume_is_the_level_change_without_fuel_used_data():
    # No fuel-used counter: exactly the level gain, 60 % of 400 L.
    readings = [Reading(at(i), level_pct=level, **PARKED) for i, level in enumerate([20, 80] + [80] * 20)]
    assert refuels(readings, rule(REFUEL)) == [Finding("builtin:refuel", REFUEL, at(0), at(1), 240.0)]


def test_a_refuel_adds_the_fuel_burnt_meanwhile_and_a_drain_subtracts_it():
    (refuel,) = refuels(tank([20, 80, 80], [500, 502, 502]), rule(REFUEL))
    assert refuel.value == 242.0
    (drain,) = fuel_drains(tank([50, 40] + [40] * 20, [500, 502] + [502] * 20), rule(FUEL_DRAIN))
    assert drain == Finding("builtin:fuel_drain", FUEL_DRAIN, at(0), at(1), 38.0)


def test_the_threshold_is_10_litres_on_a_small_tank_and_reaching_it_is_enough():
    small = rule(REFUEL, tank_l=200.0)  # 3 % is 6 L: the 10 L floor applies, 5 % of the tank
    (refuel,) = refuels(tank([20, 25, 25]), small)
    assert refuel.value == 10.0
    assert refuels(tank([20, 24.9, 24.9]), small) == []


def test_the_threshold_is_3_percent_of_a_large_tank():
    large = rule(FUEL_DRAIN, tank_l=1000.0)  # 3 % is 30 L, above the 10 L floor
    (drain,) = fuel_drains(tank([50, 47, 47]), large)
    assert drain.value == 30.0
    assert fuel_drains(tank([50, 47.1, 47.1]), large) == []


def test_a_slow_refuel_under_a_litre_a_minute_is_still_one_refuel():
    levels = [20 + 0.2 * i for i in range(21)] + [24.0] * 20  # 0.8 L a minute for 20 minutes
    (refuel,) = refuels(tank(levels), rule(REFUEL))
    assert (refuel.start, refuel.end, refuel.value) == (at(0), at(20), 16.0)


def test_the_volume_is_in_litres_to_the_millilitre():
    (refuel,) = refuels(tank([20, 23.1234, 23.1234]), rule(REFUEL))
    assert refuel.value == 12.494  # 3.1234 % of 400 L = 12.4936 L


# --- merging and open episodes -----------------------------------------------------------------------


def test_gains_exactly_15_minutes_apart_are_one_refuel_and_a_minute_more_are_two():
    # 20 -> 40 % at minute 0-1; the next gain starts 15 (or 16) minutes after the first one's end.
    merged = tank([20, 40] + [40] * 15 + [60] + [60] * 20)
    (refuel,) = refuels(merged, rule(REFUEL))
    assert (refuel.start, refuel.end, refuel.value) == (at(0), at(17), 160.0)
    split = tank([20, 40] + [40] * 16 + [60] + [60] * 20)
    assert [(f.start, f.end, f.value) for f in refuels(split, rule(REFUEL))] == [
        (at(0), at(1), 80.0),
        (at(17), at(18), 80.0),
    ]


def test_a_refuel_still_filling_at_the_newest_reading_is_open():
    assert refuels(tank([20, 40, 60]), rule(REFUEL)) == [Finding("builtin:refuel", REFUEL, at(0), None, 160.0)]


def test_a_refuel_stays_open_until_15_minutes_pass_without_a_gain():
    quiet_15 = tank([20, 80] + [80] * 15)  # newest reading 15 minutes after the last gain
    assert refuels(quiet_15, rule(REFUEL))[0].end is None
    quiet_16 = tank([20, 80] + [80] * 16)
    assert refuels(quiet_16, rule(REFUEL))[0].end == at(1)


def test_a_refuel_ended_by_driving_off_is_closed_at_once():
    filled = tank([20, 80])
    drive = Reading(at(2), level_pct=80.0, fuel_used_l=500.0, latitude=45.01, longitude=9.0)
    assert refuels([*filled, drive], rule(REFUEL)) == [Finding("builtin:refuel", REFUEL, at(0), at(1), 240.0)]
