"""The alert engine's vocabulary and runner (pure): a reading from a record and back from its stored
form, a rule's scope and tank, the alert id, and evaluate's handling of kinds and failing rules."""

from __future__ import annotations

import hashlib

from equipment_alerts.business import (
    AFTER_HOURS,
    LOW_UTIL,
    MINUTE_MS,
    REFUEL,
    SILENT,
    Reading,
    RuleConfig,
    alert_id,
    reading_document,
    reading_from_document,
    reading_from_record,
    rule_applies,
)
from equipment_alerts.business_engine import evaluate

SATURDAY_9 = 1_796_461_200_000  # 2026-12-05 09:00 UTC


def rule(kind: str, **options) -> RuleConfig:
    return RuleConfig(key=f"builtin:{kind}", kind=kind, **options)


def saturday_run(run_minutes: int) -> list[Reading]:
    running = [Reading(SATURDAY_9 + i * MINUTE_MS, running=True) for i in range(run_minutes)]
    return [*running, Reading(SATURDAY_9 + run_minutes * MINUTE_MS, running=False)]


def test_a_record_gives_every_field_the_rules_read():
    record = {
        "identifier": "EX1",
        "timestamp": SATURDAY_9,
        "location": {"GPS": {"latitude": 45.5, "longitude": 9.25}, "pointsOfInterest": [{"name": "quarry"}]},
        "c40": {
            "odometry": {"hours_tot": 1234.5, "km_tot": 87.25},
            "engine": {"running": False},
            "fuel": {"level_pct": 40.0, "used_tot_l": 12.5},
        },
    }
    assert reading_from_record(record) == Reading(SATURDAY_9, 1234.5, 87.25, False, 45.5, 9.25, ("quarry",), 40.0, 12.5)


def test_an_empty_points_of_interest_list_is_in_no_site_and_a_missing_one_is_unknown():
    in_no_site = {"timestamp": 1, "location": {"pointsOfInterest": []}}
    assert reading_from_record(in_no_site).pois == ()
    assert reading_from_record({"timestamp": 1, "location": {"pointsOfInterest": None}}).pois is None


def test_a_gps_that_is_not_an_object_gives_no_position():
    reading = reading_from_record({"timestamp": 1, "location": {"GPS": "45.5,9.25"}})
    assert (reading.latitude, reading.longitude) == (None, None)


def test_a_reading_survives_its_stored_form_with_every_field_set_or_unknown():
    full = Reading(SATURDAY_9, 1234.5, 87.25, True, 45.5, 9.25, ("quarry", "road"), 40.0, 12.5)
    unknown = Reading(SATURDAY_9)
    in_no_site = Reading(SATURDAY_9, pois=())
    for reading in (full, unknown, in_no_site):
        assert reading_from_document(reading_document(reading)) == reading
    assert reading_document(unknown) == [SATURDAY_9, None, None, None, None, None, None, None, None]


def test_a_scope_the_engine_does_not_know_watches_no_machine():
    assert not rule_applies(
        rule(AFTER_HOURS, scope="region", scope_value="north"), "EX1", "PC210", frozenset({"north"})
    )


def test_a_tank_capacity_replaces_the_default_only_when_it_is_positive():
    default = rule(REFUEL)
    assert default.with_tank(None) is default
    assert default.with_tank(0.0) is default
    assert default.with_tank(-50.0) is default
    assert default.with_tank(1.0).tank_capacity_l == 1.0
    assert default.with_tank(250.0) == RuleConfig(key="builtin:refuel", kind=REFUEL, tank_capacity_l=250.0)


def test_the_alert_id_is_24_hex_characters_of_the_sha256_of_machine_rule_and_start():
    # Stored alerts are found again by this id: its form must not change between versions.
    expected = hashlib.sha256(b"EX1\x1fbuiltin:refuel\x1f1796461200000").hexdigest()[:24]
    assert alert_id("EX1", "builtin:refuel", SATURDAY_9) == expected
    assert len(expected) == 24 and int(expected, 16) >= 0


def test_clock_rules_are_skipped_by_evaluate_and_the_message_rules_after_them_still_run():
    findings, failures = evaluate(saturday_run(12), [rule(SILENT), rule(LOW_UTIL), rule(AFTER_HOURS)])
    assert [finding.kind for finding in findings] == [AFTER_HOURS] and failures == []


def test_a_failing_rule_is_reported_by_its_error_type_and_message_cut_at_500_characters():
    zone = "Nowhere/" + "x" * 600
    findings, failures = evaluate(saturday_run(12), [rule(AFTER_HOURS, time_zone=zone), rule(AFTER_HOURS)])
    ((key, error),) = failures
    assert key == "builtin:after_hours" and len(findings) == 1
    assert error.startswith("ZoneInfoNotFoundError: ") and "Nowhere/xxx" in error and len(error) == 500
