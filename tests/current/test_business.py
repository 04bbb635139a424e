"""Pure rules of the current-state service: plain functions, no fixtures, no Django."""

from equipment_current.business import (
    extract_sections,
    fold_state_updates,
    is_stale,
    state_update,
)
from stream.records import poi_names
from tests.factories import T0, telemetry


def test_sections_carry_the_event_time_and_only_known_values():
    sections = extract_sections(telemetry("EX001", T0, pois=["Site A"]))
    assert set(sections) == {
        "base",
        "description",
        "position",
        "points_of_interest",
        "engine_hours",
        "odometer",
        "engine",
        "fuel",
    }
    assert all(section["at"] == T0 for section in sections.values())
    assert sections["position"] == {"latitude": 45.46, "longitude": 9.19, "address": "Via Roma 1, Milano", "at": T0}
    assert sections["points_of_interest"] == {"names": ["Site A"], "at": T0}
    assert sections["engine_hours"] == {"hours_tot": 100.0, "at": T0}
    assert sections["odometer"] == {"km_tot": 5000.0, "at": T0}
    assert sections["engine"] == {"running": True, "at": T0}
    assert sections["fuel"] == {"used_tot_l": 1000.0, "level_pct": 50.0, "at": T0}
    assert sections["description"] == {"brand": "Caterpillar", "model": "320", "at": T0}
    assert sections["base"] == {"code": "MI01", "at": T0}


def test_message_without_gps_has_no_position_and_no_points_of_interest():
    sections = extract_sections(telemetry(latitude=None, longitude=None))
    assert "position" not in sections
    assert "points_of_interest" not in sections


def test_empty_points_of_interest_with_a_position_means_in_no_site():
    assert extract_sections(telemetry(pois=[]))["points_of_interest"]["names"] == []


def test_points_of_interest_without_position_are_still_known():
    sections = extract_sections(telemetry(latitude=None, longitude=None, pois=["Depot"]))
    assert sections["points_of_interest"]["names"] == ["Depot"]


def test_missing_counters_and_flags_give_no_section():
    sections = extract_sections(
        telemetry(hours=None, km=None, running=None, fuel_used=None, fuel_level=None, brand=None, model=None, base=None)
    )
    assert set(sections) == {"position", "points_of_interest"}


def test_one_counter_missing_keeps_the_other():
    sections = extract_sections(telemetry(hours=None, km=12.5, fuel_used=None, fuel_level=30.0))
    assert "engine_hours" not in sections
    assert sections["odometer"]["km_tot"] == 12.5
    assert sections["fuel"] == {"used_tot_l": None, "level_pct": 30.0, "at": T0}


def test_record_with_null_nested_parts_is_accepted():
    record = {"identifier": "EX9", "timestamp": T0, "base": None, "description": None, "location": None, "c40": None}
    assert extract_sections(record) == {}
    assert state_update(record).last_event_at == T0


def test_poi_names_are_deduplicated_in_order():
    record = telemetry(pois=["B", "A", "B"])
    assert poi_names(record) == ["B", "A"]


def test_fold_keeps_the_newest_section_whatever_the_order():
    old = telemetry("EX001", T0, latitude=1.0, longitude=1.0, km=10.0)
    new_without_gps = telemetry("EX001", T0 + 1000, latitude=None, longitude=None, km=20.0)
    for order in ([old, new_without_gps], [new_without_gps, old]):
        update = fold_state_updates(order)["EX001"]
        assert update.last_event_at == T0 + 1000
        assert update.sections["odometer"] == {"km_tot": 20.0, "at": T0 + 1000}
        assert update.sections["position"]["latitude"] == 1.0
        assert update.sections["position"]["at"] == T0


def test_fold_tie_keeps_the_first_seen():
    first = telemetry("EX001", T0, km=1.0)
    second = telemetry("EX001", T0, km=2.0)
    assert fold_state_updates([first, second])["EX001"].sections["odometer"]["km_tot"] == 1.0


def test_fold_separates_machines():
    updates = fold_state_updates([telemetry("A", T0), telemetry("B", T0 + 5), telemetry("A", T0 + 9)])
    assert {k: v.last_event_at for k, v in updates.items()} == {"A": T0 + 9, "B": T0 + 5}


def test_stale_threshold_is_strictly_more_than_the_minutes():
    now = T0 + 60 * 60_000
    assert not is_stale(T0, now, 60)
    assert is_stale(T0 - 1, now, 60)
    assert is_stale(None, now, 60)


def test_points_of_interest_that_are_not_objects_or_have_no_name_are_skipped():
    record = telemetry(pois=["Depot"])
    record["location"]["pointsOfInterest"] = ["Quarry", None, {"name": ""}, {"other": 1}, {"name": "Depot"}]
    assert poi_names(record) == ["Depot"]


def test_description_is_known_when_only_one_of_brand_and_model_is():
    assert extract_sections(telemetry(model=None))["description"] == {"brand": "Caterpillar", "model": None, "at": T0}
    assert extract_sections(telemetry(brand=None))["description"] == {"brand": None, "model": "320", "at": T0}


def test_half_a_gps_fix_is_no_position():
    for sections in (
        extract_sections(telemetry(latitude=45.0, longitude=None)),
        extract_sections(telemetry(latitude=None, longitude=9.0)),
    ):
        assert "position" not in sections
        assert "points_of_interest" not in sections
