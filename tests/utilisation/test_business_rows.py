"""``equipment_utilisation.business_rows``: a machine's local day as the row the consumer stores and
publishes (its figures, site, zone, calendar), its key and topic record, its next version, and the
full recompute from samples in any zone (docs/UTILISATION.md). Pure: no database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from equipment_utilisation.business import MOTION, STATIONARY_WORK, Sample, UtilisationRules
from equipment_utilisation.business_calendar import Calendar, UtilisationConfig
from equipment_utilisation.business_rows import (
    ROW_FIGURES,
    day_row,
    kafka_key,
    next_version,
    recompute_rows,
    row_id,
    rows_for_days,
    same_figures,
    sample_date,
    topic_record,
)
from tests.utilisation.fleet import ms

RULES = UtilisationRules()
ROME, TOKYO, NEW_YORK = "Europe/Rome", "Asia/Tokyo", "America/New_York"
CONFIG = UtilisationConfig(
    classes={"excavator": STATIONARY_WORK, "dumper": MOTION, "generic": MOTION},
    model_classes={"320": "excavator", "b30e": "dumper"},
    default_class="generic",
    calendars={
        "standard": Calendar("standard"),
        "ten": Calendar("ten", (10.0,) * 7),
        "six": Calendar("six", (6.0,) * 7),
    },
    class_calendars={"excavator": "six"},
    site_calendars={"Cantiere A": "ten"},
    site_zones={"Site NY": NEW_YORK},
    machine_zones={"EX1": TOKYO},
    default_zone=ROME,
)
DAY = "2026-03-10"  # a Tuesday
UTC = ZoneInfo("UTC")


def at(clock: str, day: str = DAY) -> int:
    return ms(f"{day} {clock}")


def reading(t: int, hours: float = 100.0, fuel: float = 1000.0, **values) -> Sample:
    return Sample(
        **{"t": t, "hours": hours, "fuel": fuel, "km": 5000.0, "running": True, "lat": 45.46, "lon": 9.19, **values}
    )


def dumpers_morning() -> list[Sample]:
    """Cantiere A: off 08-09, still with the engine on 09-10, moving 10-10:30, then 90 minutes silent."""
    site = {"site": "Cantiere A"}
    return [
        reading(at("08:00"), running=False, fuel=1000.0, **site),
        reading(at("09:00"), fuel=1000.0, **site),
        reading(at("10:00"), 101.0, fuel=1010.0, **site),
        reading(at("10:30"), 101.5, fuel=1012.5, km=5001.0, lat=45.47, **site),
        reading(at("12:00"), 101.5, fuel=1012.5, km=5001.0, lat=45.47, **site),
    ]


def test_a_days_row_has_its_figures_site_zone_and_the_sites_calendar():
    row = day_row("D1", DAY, ROME, "B30E", dumpers_morning(), CONFIG, RULES)
    assert row == {
        "_id": "D1|2026-03-10",
        "machine": "D1",
        "date": DAY,
        "site": "Cantiere A",
        "machine_class": "dumper",
        "zone": ROME,
        "engine_hours": 1.5,  # 09-10 and 10-10:30; the counter did not move over the gap
        "available_hours": 10.0,  # Cantiere A's calendar, every day 10 h
        "fuel_l": 12.5,
        "hours": {"working": 0.5, "idle": 1.0, "stationary": 0.0, "off": 1.0, "no_data": 21.5},
        "idle_runs": {"3_6": 0, "6_9": 0, "over_9": 1},
        "samples": 5,
    }
    assert row["_id"] == row_id("D1", DAY) and kafka_key(row) == "D1|Cantiere A|2026-03-10"


def test_every_hours_figure_of_a_row_keeps_six_decimals():
    """20 minutes is 0.333333 h in every state: the row keeps six decimals, not whole hours."""
    twenty = {"site": "Cantiere A"}
    excavator = [
        reading(at("09:00"), running=False, **twenty),
        reading(at("09:20"), **twenty),  # off 09:00-09:20
        reading(at("09:40"), 100.0 + 1 / 3, **twenty),  # still with the engine on: stationary-running
        reading(at("10:00"), 100.0 + 2 / 3, km=5001.0, lat=45.47, **twenty),  # moving: working
    ]
    hours = day_row("E3", DAY, ROME, "320", excavator, CONFIG, RULES)["hours"]
    assert hours == {"working": 0.333333, "idle": 0.0, "stationary": 0.333333, "off": 0.333333, "no_data": 23.0}
    dumper = day_row("D3", DAY, ROME, "B30E", excavator, CONFIG, RULES)["hours"]
    assert dumper["idle"] == 0.333333 and dumper["stationary"] == 0.0


def test_an_off_site_row_takes_its_classs_calendar():
    row = day_row("E2", DAY, ROME, "320", [reading(at("12:00"), site=None)], CONFIG, RULES)
    assert (row["site"], row["machine_class"], row["available_hours"]) == ("off-site", "excavator", 6.0)
    assert kafka_key(row) == "E2|off-site|2026-03-10" and row["samples"] == 1


def test_a_sample_is_dated_in_its_sites_zone_else_in_the_machines_home_zone_else_the_default():
    t = ms("2026-03-10 20:00", UTC)  # 16:00 in New York, 05:00 next day in Tokyo, 21:00 in Rome
    assert sample_date("EX1", reading(t, site="Site NY"), CONFIG) == ("2026-03-10", NEW_YORK)
    assert sample_date("EX1", reading(t, site="Cantiere A"), CONFIG) == ("2026-03-11", TOKYO)
    assert sample_date("EX1", reading(t, site=None), CONFIG) == ("2026-03-11", TOKYO)
    assert sample_date("EX2", reading(t, site=None), CONFIG) == ("2026-03-10", ROME)


def test_the_full_recompute_dates_an_off_site_machine_in_its_home_zone():
    t = ms("2026-03-10 20:00", UTC)
    samples = [reading(t + 30 * 60_000, 100.5, site=None), reading(t, site=None)]
    [row] = recompute_rows("EX1", "320", samples, CONFIG, RULES)
    assert (row["_id"], row["machine"], row["date"], row["zone"]) == ("EX1|2026-03-11", "EX1", "2026-03-11", TOKYO)
    assert row["engine_hours"] == 0.5 and row["samples"] == 2


def test_a_days_row_reads_the_last_sample_of_the_day_before_and_skips_the_days_without_samples():
    traces = {
        "2026-03-09": (ROME, [reading(at("23:30", "2026-03-09"), 100.0)]),
        DAY: (ROME, [reading(at("00:30"), 101.0), reading(at("01:00"), 101.5)]),
        "2026-03-12": (ROME, [reading(at("00:30", "2026-03-12"), 200.0)]),
        "2026-03-13": (ROME, []),
    }
    rows = rows_for_days("D1", "B30E", traces, ["2026-03-07", "2026-03-13", DAY, DAY], CONFIG, RULES)
    assert [row["date"] for row in rows] == [DAY]
    assert rows[0]["engine_hours"] == 1.0  # half of 23:30-00:30, then 00:30-01:00


def test_a_row_has_the_same_figures_unless_one_of_its_figures_differs():
    row = day_row("D1", DAY, ROME, "B30E", dumpers_morning(), CONFIG, RULES)
    assert not same_figures(None, row)
    assert same_figures({**row, "version": 7, "samples": 99}, row)
    for name in ROW_FIGURES:
        assert not same_figures({**row, name: "changed"}, row), name


def test_the_topic_record_carries_the_rows_figures_and_utilisation():
    row = {**day_row("D1", DAY, ROME, "B30E", dumpers_morning(), CONFIG, RULES), "version": 3}
    row["idle_runs"] = {"3_6": 4, "6_9": 2, "over_9": 1}
    assert topic_record(row) == {
        "machine": "D1",
        "date": DAY,
        "site": "Cantiere A",
        "zone": ROME,
        "machine_class": "dumper",
        "version": 3,
        "engine_hours": 1.5,
        "available_hours": 10.0,
        "utilisation": 0.15,
        "working_hours": 0.5,
        "idle_hours": 1.0,
        "stationary_hours": 0.0,
        "off_hours": 1.0,
        "no_data_hours": 21.5,
        "fuel_l": 12.5,
        "idle_runs_3_6": 4,
        "idle_runs_6_9": 2,
        "idle_runs_over_9": 1,
    }
    assert topic_record({**row, "available_hours": 0.0})["utilisation"] is None  # nothing available: null
    assert topic_record({**row, "available_hours": 0.5})["utilisation"] == 3.0


def test_a_changed_row_is_the_next_version_and_a_moved_site_retracts_the_old_key():
    row = day_row("D1", DAY, ROME, "B30E", dumpers_morning(), CONFIG, RULES)
    assert next_version(None, row) == {**row, "version": 1, "retracted_sites": []}
    assert next_version({**row, "version": 3, "samples": 4}, row) is None  # a replay: no new version
    assert next_version({**row, "version": 3, "engine_hours": 1.0}, row) == {**row, "version": 4, "retracted_sites": []}
    moved = next_version({**row, "version": 3, "site": "Cantiere B"}, row)
    assert moved == {**row, "version": 4, "retracted_sites": ["Cantiere B"]}
