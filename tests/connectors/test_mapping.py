"""AEMP elements -> C40 records: pure rules, no fixtures; property tests on generated feeds."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from equipment_connectors import mapping
from equipment_connectors.fake_maker import FakeMachine, FakeMaker
from equipment_current.aemp.client import parse_xml
from equipment_current.aemp.elements import aemp_datetime
from stream.codecs import JsonCodec
from tests.properties import property_settings

SAMPLES = Path(__file__).parents[1] / "aemp" / "samples"
TEN = 1_767_607_200_000  # 2026-01-05T10:00:00Z


def records_of(equipment: dict, identifier: str = "X1") -> list[dict]:
    found = mapping.readings_of(equipment)
    return mapping.messages(identifier, found.machine, found.readings)


def test_hours_at_ten_and_location_at_five_past_are_two_messages_with_those_times():
    records = records_of(
        {
            "EquipmentHeader": {"EquipmentID": "X1"},
            "CumulativeOperatingHours": {"datetime": "2026-01-05T10:00:00Z", "Hour": 12.5},
            "Location": {"datetime": "2026-01-05T10:05:00Z", "Latitude": 45.5, "Longitude": 9.25},
        }
    )
    assert [r["timestamp"] for r in records] == [TEN, TEN + 5 * 60_000]
    assert records[0]["c40"]["odometry"] == {"hours_tot": 12.5, "km_tot": None}
    assert "location" not in records[0]
    assert records[1]["location"]["GPS"] == {"latitude": 45.5, "longitude": 9.25}
    assert "c40" not in records[1]


def test_units_are_converted():
    at = "2026-01-05T10:00:00Z"
    records = records_of(
        {
            "Distance": {"datetime": at, "OdometerUnits": "mile", "Odometer": 100.0},
            "FuelUsed": {"datetime": at, "FuelUnits": "US gallon", "FuelConsumed": 10.0},
            "FuelRemaining": {"datetime": at, "Percent": 42.0},
            "EngineStatus": {"datetime": at, "Running": True},
        }
    )
    assert len(records) == 1
    assert records[0]["c40"]["odometry"]["km_tot"] == 160.934
    assert records[0]["c40"]["fuel"] == {"used_tot_l": 37.854, "level_pct": 42.0}
    assert records[0]["c40"]["engine"] == {"running": True}
    assert mapping.convert(5.0, "Kilometre", mapping.KM_PER) == 5.0
    assert mapping.convert(1.0, "imperial gallon", mapping.LITRES_PER) == 4.546


def test_unreadable_elements_are_left_out_with_a_reason():
    found = mapping.readings_of(
        {
            "EquipmentHeader": {"PIN": "P1"},
            "Distance": {"datetime": "2026-01-05T10:00:00Z", "OdometerUnits": "furlong", "Odometer": 3.0},
            "FuelRemaining": {"datetime": "2026-01-05T10:00:00Z", "Percent": 140.0},
            "CumulativeOperatingHours": {"datetime": "yesterday", "Hour": 3.0},
            "Location": {"datetime": "2026-01-05T10:00:00Z", "Latitude": 0.0, "Longitude": 0.0},
            "EngineStatus": "on",
        }
    )
    assert found.readings == []
    assert len(found.problems) == 5
    assert any("furlong" in problem for problem in found.problems)
    assert any("'yesterday' is not a date-time" in problem for problem in found.problems)


def test_the_published_samples_map():
    _, fleet = parse_xml((SAMPLES / "takeuchi_tfm_fleet.xml").read_bytes())
    machines = [mapping.readings_of(e) for e in fleet["Equipment"]]
    assert [m.machine.key for m in machines] == ["190502863", "190502580", "514700292"]
    hours = [r for m in machines for r in m.readings if r.element == "CumulativeOperatingHours"]
    assert hours and hours[0].fields == ((("c40", "odometry", "hours_tot"), 233.7),)  # the <datetime> child
    _, fleet = parse_xml((SAMPLES / "wacker_neuson_trackunit_fleet.xml").read_bytes())
    kramer = mapping.readings_of(fleet["Equipment"][0])
    assert kramer.machine.key == "850 Kramer 346041375"  # no PIN: the maker's id
    assert {r.element for r in kramer.readings} == {"Location", "CumulativeOperatingHours", "Distance", "EngineStatus"}


def test_dedup_keys_name_maker_machine_element_and_time():
    found = mapping.readings_of(
        {
            "EquipmentHeader": {"PIN": "P1", "EquipmentID": "E1"},
            "Location": {"datetime": "2026-01-05T10:00:00Z", "Latitude": 1.0, "Longitude": 2.0},
        }
    )
    assert mapping.dedup_key("Komatsu", found.machine, found.readings[0]) == f"Komatsu|P1|Location|{TEN}"


# -- generated feeds --------------------------------------------------------------------------------

times = st.integers(TEN - 10 * 86_400_000, TEN).map(lambda ms: ms - ms % 1000 + (ms % 7))
finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3))
elements = st.fixed_dictionaries(
    {},
    optional={
        "CumulativeOperatingHours": st.tuples(times, finite.map(lambda v: {"Hour": v})),
        "Distance": st.tuples(
            times,
            st.tuples(finite, st.sampled_from(["kilometre", "mile"])).map(
                lambda p: {"OdometerUnits": p[1], "Odometer": p[0]}
            ),
        ),
        "FuelUsed": st.tuples(
            times,
            st.tuples(finite, st.sampled_from(["litre", "US gallon"])).map(
                lambda p: {"FuelUnits": p[1], "FuelConsumed": p[0]}
            ),
        ),
        "FuelRemaining": st.tuples(times, st.floats(0, 100).map(lambda v: {"Percent": round(v, 2)})),
        "EngineStatus": st.tuples(times, st.booleans().map(lambda b: {"Running": "true" if b else "false"})),
        "Location": st.tuples(
            times,
            st.tuples(st.floats(1, 89), st.floats(1, 179)).map(lambda p: {"Latitude": p[0], "Longitude": p[1]}),
        ),
    },
)
codec = JsonCodec("c40_enriched.avsc")


@property_settings(200)
@given(st.lists(elements, min_size=1, max_size=5), st.booleans())
def test_generated_feeds_become_one_valid_record_per_reading_time(machines, takeuchi):
    fake = [
        FakeMachine(
            pin=f"P{i}",
            equipment_id=f"E{i}",
            elements={name: (aemp_datetime(at), values) for name, (at, values) in generated.items()},
        )
        for i, generated in enumerate(machines)
    ]
    maker = FakeMaker(fake, takeuchi=takeuchi)
    maker.server = type("Bound", (), {"server_address": ("127.0.0.1", 1)})()  # page_xml only needs the URL
    _, fleet = parse_xml(maker.page_xml(maker.first_page))
    for generated, equipment in zip(machines, fleet["Equipment"], strict=True):
        found = mapping.readings_of(equipment)
        assert found.problems == []
        assert {(r.element, r.at) for r in found.readings} == {(name, at) for name, (at, _) in generated.items()}
        records = mapping.messages("X", found.machine, found.readings)
        assert [r["timestamp"] for r in records] == sorted({at for at, _ in generated.values()})
        for record in records:
            assert codec.decode(codec.encode(record))["timestamp"] == record["timestamp"]  # raises unless schema-valid
        keys = [mapping.dedup_key("M", found.machine, r) for r in found.readings]
        assert len(keys) == len(set(keys))
        if "Distance" in generated:
            at, values = generated["Distance"]
            km = next(r["c40"]["odometry"]["km_tot"] for r in records if r["timestamp"] == at)
            factor = 1.609344 if values["OdometerUnits"] == "mile" else 1.0
            assert abs(km - values["Odometer"] * factor) <= 0.0005 + 1e-9 * values["Odometer"]
