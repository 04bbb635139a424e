"""Statements from the real usage ledger (usage handler -> usage_deltas -> rentals), versioning."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from equipment_rentals.statements import compute, pending_issue, refresh
from equipment_usage.business_ledger import Reading
from tests.rentals.fleet import AUG, RecordingPublisher, contract, feed, hourly_readings, june_195_july_170, ms

pytestmark = pytest.mark.django_db
LATER = datetime(2026, 8, 2, tzinfo=UTC)


def amounts(result):
    return [(line.hours_used, line.excess_hours, line.excess_amount) for line in result.lines]


def test_june_july_from_the_ledger_pooled_and_per_period(mongo_db):
    feed(june_195_july_170("EX1") + june_195_july_170("EX2"))
    pooled = compute(contract(machine="EX1", pooled=True), LATER, closed_only=True)
    assert pooled.excess_total == Decimal("443.18") and pooled.excess_hours == Decimal("13.00")
    per_period = compute(contract(machine="EX2", pooled=False), LATER, closed_only=True)
    assert amounts(per_period) == [
        (Decimal("195.00"), Decimal("19.00"), Decimal("647.73")),
        (Decimal("170.00"), Decimal("0.00"), Decimal("0.00")),
    ]
    assert [line.data_gap_hours for line in per_period.lines] == [0, 0]
    assert [(line.hours_start, line.hours_end) for line in per_period.lines] == [
        (Decimal("1000.00"), Decimal("1195.00")),
        (Decimal("1195.00"), Decimal("1365.00")),
    ]


def test_a_contract_without_readings_shows_data_gap_hours_not_silent_zeros(mongo_db):
    result = compute(contract(), LATER, closed_only=True)
    assert [line.hours_used for line in result.lines] == [0, 0]
    assert [line.data_gap_hours for line in result.lines] == [Decimal(720), Decimal(744)]
    assert [line.hours_start for line in result.lines] == [None, None]


def test_the_running_period_is_shown_live_but_never_issued(mongo_db):
    feed(june_195_july_170())
    open_contract = contract(off_rent=None)
    mid_july = datetime(2026, 7, 15, tzinfo=UTC)
    assert len(compute(open_contract, mid_july, closed_only=False).lines) == 2
    issue = pending_issue(open_contract, mid_july)
    assert [line["period_start"] for line in issue.lines] == ["2026-06-01T00:00:00+00:00"]


def test_late_2_hours_for_a_closed_july_issue_v2_with_a_delta_line_and_one_event(mongo_db):
    # The modem was out from July 31 22:00: July's last two hours reach the ledger after v1.
    june = [1] * 195 + [0] * (30 * 24 - 195)
    july = [1] * 168 + [0] * (31 * 24 - 170)
    readings = hourly_readings("EX1", datetime(2026, 6, 1, tzinfo=UTC), june + july)
    feed(readings)
    rental = contract()
    publisher = RecordingPublisher()
    [v1] = refresh([rental], LATER, publisher)
    assert v1.version == 1 and v1.lines[1]["hours_used"] == "168.00" and v1.lines[1]["data_gap_hours"] == "2.00"
    assert refresh([rental], LATER, publisher) == []  # a replay issues nothing
    feed([Reading("EX1", ms(AUG), readings[-1].hours + 2, None)])
    [v2] = refresh([rental], LATER, publisher)
    assert v2.version == 2
    [delta] = v2.delta_lines
    assert (delta["period_start"], delta["hours_used"], delta["data_gap_hours"]) == (
        "2026-07-01T00:00:00+00:00",
        "2.00",
        "0.00",  # the 2 h between the two readings are still a stretch with no readings in it
    )
    assert len(publisher.records) == 2
    event = publisher.records[1]
    assert (event["version"], event["previous_version"]) == (2, 1)
    assert event["retracted"] == v1.totals and event["amount"] == v2.totals
    assert refresh([rental], LATER, publisher) == [] and len(publisher.records) == 2


def test_a_spliced_late_reading_changes_a_closed_period_by_its_share(mongo_db):
    # Readings stop July 31 20:00 and resume Aug 1 20:00: the 2 h between are shared by time
    # (4 of 24 h in July). A late reading at midnight shows they were all in July.
    june_july = [1] * 195 + [0] * (30 * 24 - 195) + [1] * 170 + [0] * (31 * 24 - 174)
    readings = hourly_readings("EX1", datetime(2026, 6, 1, tzinfo=UTC), june_july)
    meter = readings[-1].hours
    feed([*readings, Reading("EX1", ms(AUG) + 20 * 3_600_000, meter + 2, None)])
    rental = contract(off_rent=None)
    publisher = RecordingPublisher()
    [v1] = refresh([rental], LATER, publisher)
    assert v1.lines[1]["hours_used"] == "170.33"
    feed([Reading("EX1", ms(AUG), meter + 2, None)])  # late: spliced into the 24 h interval
    [v2] = refresh([rental], LATER, publisher)
    assert v2.delta_lines[0]["hours_used"] == "1.67"
    assert len(publisher.records) == 2


def test_a_backdated_contract_change_issues_a_new_version(mongo_db):
    feed(june_195_july_170())
    rental = contract()
    publisher = RecordingPublisher()
    refresh([rental], LATER, publisher)
    rental.base_rate = Decimal(6600)
    rental.save()
    [v2] = refresh([rental], LATER, publisher)
    assert [d["base_amount"] for d in v2.delta_lines] == ["600.00", "600.00"]
    assert publisher.records[-1]["amount"]["base_total"] == "13200.00"


def test_periods_past_the_correction_horizon_keep_their_issued_hours(mongo_db, settings):
    feed(june_195_july_170())
    rental = contract()
    publisher = RecordingPublisher()
    refresh([rental], LATER, publisher)
    mongo_db["usage_deltas"].delete_many({})  # the ledger pruned
    later = AUG + timedelta(days=settings.RENTALS_RECOMPUTE_DAYS + 1)
    assert refresh([rental], later, publisher) == []  # read again, the hours would be gaps now
    rental.base_rate = Decimal(6600)
    rental.save()
    [v2] = refresh([rental], later, publisher)
    assert [(d["hours_used"], d["base_amount"]) for d in v2.delta_lines] == [("0.00", "600.00"), ("0.00", "600.00")]
