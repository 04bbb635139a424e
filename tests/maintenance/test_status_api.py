"""GET /api/v1/maintenance/ and /<machine>/, POST /<machine>/service-records/: statuses from the
current state's engine hours, forecasts from the usage service's daily totals, today from the
injected clock; bad query strings and bodies are 400s naming the parameter, never 500s."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st

from equipment_maintenance.models import ServiceRecord
from tests.factories import authenticated_api_client
from tests.maintenance.fleet import NOW, TODAY, RecordingPublisher, assign, plan, report_hours, serviced, use_daily
from tests.properties import property_settings

URL = "/api/v1/maintenance/"


@pytest.fixture
def client():
    return authenticated_api_client()


@pytest.fixture
def fleet(db, mongo_db, settings):
    """EX001 due soon (24 h left at 6.5 h/day), EX002 ok (130 h left at 6.5 h/day: the issue's
    20 days), EX003 overdue by 50 h with no use, EX004 due; EX005 reported but has no plan."""
    settings.MAINTENANCE_CLOCK = "tests.maintenance.fleet.fixed_now"
    settings.MAINTENANCE_PUBLISHER = "tests.maintenance.fleet.RecordingPublisher"
    RecordingPublisher.published = []
    template = plan()
    for machine, hours in [("EX001", 1226), ("EX002", 1120), ("EX003", 1300), ("EX004", 1250), ("EX005", 10)]:
        report_hours(machine, hours)
        if machine != "EX005":
            assign(template, machine)
            serviced(template, machine, 1000, date(2026, 5, 1))
    use_daily("EX001", 1226, 6.5)
    use_daily("EX002", 1120, 6.5)
    use_daily("EX004", 1250, 1.0)
    return template


def test_machine_due_soon_with_forecast_from_30_days_of_use(fleet, client):
    response = client.get(URL + "EX001/")
    assert response.status_code == 200, response.content
    (row,) = response.json()
    assert row["status"] == "due_soon"
    assert (row["engine_hours"], row["due_hours"], row["hours_left"], row["overdue_by"]) == (1226, 1250, 24, 0)
    assert row["average_daily_hours"] == pytest.approx(6.5)
    # 24 h / 6.5 h a day = 3.7 days, rounded up: 4 days after the clock's date.
    assert row["forecast_date"] == str(TODAY + timedelta(days=4))
    assert row["cycle"] == 1 and row["last_service"] == {"hours": 1000.0, "date": "2026-05-01"}


def test_130h_left_at_6_5h_a_day_is_20_days_out(fleet, client):
    (row,) = client.get(URL + "EX002/").json()
    assert (row["status"], row["hours_left"], row["forecast_date"]) == ("ok", 130, str(TODAY + timedelta(days=20)))


def test_overdue_by_50_without_use_has_no_forecast(fleet, client):
    (row,) = client.get(URL + "EX003/").json()
    assert (row["status"], row["overdue_by"], row["hours_left"], row["forecast_date"]) == ("overdue", 50, 0, None)


def test_the_clock_decides_today_and_the_30_days(fleet, client, settings):
    settings.MAINTENANCE_CLOCK = lambda: NOW + timedelta(days=10)
    (row,) = client.get(URL + "EX002/").json()
    # The 30 days before 2026-07-10 hold 20 days of 6.5 h: 130 h / 30 days; 130 h left -> 30 days.
    assert row["average_daily_hours"] == pytest.approx(130 / 30)
    assert row["forecast_date"] == str(TODAY + timedelta(days=10 + 30))


def test_a_machine_without_plans_has_none(fleet, client):
    assert client.get(URL + "EX005/").json() == []


def test_unknown_machine_is_404(fleet, client):
    response = client.get(URL + "NOPE/")
    assert response.status_code == 404 and "NOPE" in response.json()["detail"]


def test_fleet_list_filters_by_status_and_sorts_by_forecast(fleet, client):
    rows = client.get(URL, {"ordering": "forecast_date"}).json()["results"]
    # EX004 is due now (0 h left: today), EX001 in 4 days, EX002 in 20, EX003 has no use (last).
    assert [row["machine"] for row in rows] == ["EX004", "EX001", "EX002", "EX003"]
    assert [row["forecast_date"] is None for row in rows] == [False, False, False, True]
    assert [r["machine"] for r in client.get(URL, {"ordering": "-forecast_date"}).json()["results"]][:3] == [
        "EX002",
        "EX001",
        "EX004",
    ]
    for status, machines in [("due_soon", ["EX001"]), ("due", ["EX004"]), ("overdue", ["EX003"]), ("ok", ["EX002"])]:
        assert [row["machine"] for row in client.get(URL, {"status": status}).json()["results"]] == machines
    assert [row["machine"] for row in client.get(URL).json()["results"]] == ["EX001", "EX002", "EX003", "EX004"]


def test_fleet_list_is_paged(fleet, client):
    page = client.get(URL, {"ordering": "forecast_date", "page_size": 3, "page": 2}).json()
    assert page["count"] == 4 and [row["machine"] for row in page["results"]] == ["EX003"]
    assert page["previous"] is not None and page["next"] is None
    assert client.get(URL, {"page": 3, "page_size": 3}).status_code == 404


@pytest.mark.parametrize("name, value", [("status", "late"), ("ordering", "hours"), ("status", "")])
def test_bad_query_is_400_naming_the_parameter(fleet, client, name, value):
    response = client.get(URL, {name: value})
    assert response.status_code == 400 and name in response.json()


# -- service records -----------------------------------------------------------------------------


def test_service_record_is_201_emits_done_and_starts_the_next_cycle(fleet, client):
    body = {"template": fleet.pk, "hours": 1300, "date": "2026-06-29", "note": "oil, filters"}
    response = client.post(URL + "EX003/service-records/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["machine"] == "EX003"
    (done,) = RecordingPublisher.published
    assert (done["event_id"], done["status"], done["cycle"], done["hours"]) == (
        f"EX003|{fleet.pk}|1|done",
        "done",
        1,
        1300,
    )
    (row,) = client.get(URL + "EX003/").json()
    assert (row["status"], row["due_hours"], row["cycle"]) == ("ok", 1550, 2)


@pytest.mark.parametrize(
    "machine, change, field",
    [
        ("NOPE", {}, "machine"),
        ("EX005", {}, "template"),  # reported, but the template is not assigned to it
        ("EX001", {"hours": -1}, "hours"),
        ("EX001", {"hours": "Infinity"}, "hours"),
        ("EX001", {"date": "2026-07-01"}, "date"),  # after the clock's today
        ("EX001", {"template": 999_999}, "template"),
        ("EX001", {"colour": "red"}, "colour"),
    ],
)
def test_bad_service_record_is_400_naming_the_field(fleet, client, machine, change, field):
    body = {"template": fleet.pk, "hours": 1230, "date": "2026-06-29", **change}
    response = client.post(URL + f"{machine}/service-records/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert ServiceRecord.objects.filter(machine=machine).count() == (
        1 if machine.startswith("EX00") and machine != "EX005" else 0
    )
    assert RecordingPublisher.published == []


class StoreDown:
    """An emission store that does not answer (what pymongo raises when no server is reachable)."""

    def __init__(self, database) -> None:
        pass

    def claim(self, events):
        from pymongo.errors import ServerSelectionTimeoutError

        raise ServerSelectionTimeoutError("no server")


def test_a_store_that_does_not_answer_rolls_the_service_back_503(fleet, client, settings):
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "maintenance_events": {"BACKEND": "tests.maintenance.test_status_api.StoreDown", "OPTIONS": {}},
    }
    body = {"template": fleet.pk, "hours": 1300, "date": "2026-06-29"}
    response = client.post(URL + "EX003/service-records/", body, format="json")
    assert response.status_code == 503 and response.json()["dependency"] == "mongodb"
    assert ServiceRecord.objects.filter(machine="EX003").count() == 1  # the one of the fixture only
    assert RecordingPublisher.published == []


# -- generated input -----------------------------------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["due", "due_soon", "overdue", "ok", "forecast_date", "-forecast_date", "machine", "1e309", "nan"]),
    st.integers(-2, 1002).map(str),
)


@property_settings(40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(query=st.dictionaries(st.sampled_from(["status", "ordering", "page", "page_size", "x"]), TEXT, max_size=3))
def test_generated_query_strings_are_200_or_400_naming_the_parameter_or_404_past_the_last_page(fleet, client, query):
    response = client.get(URL, query)
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code == 400:
        assert set(response.json()) <= {"status", "ordering", "page", "page_size"}
    elif response.status_code == 404:
        assert response.json() == {"detail": "Invalid page."}
    else:
        statuses = {row["status"] for row in response.json()["results"]}
        assert query.get("status") is None or statuses <= {query["status"]}


VALUES = st.one_of(
    st.none(),
    st.integers(-10, 10**7),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.dates(date(2000, 1, 1), date(2030, 1, 1)).map(str),
)


PLAN, ABSENT = object(), object()  # the fixture's template id; a field left out


def mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A valid value three times in four, else anything or nothing: valid bodies are frequent
    enough for the 201 branch to be checked, and every way of being invalid is still generated."""
    # Not one_of(valid, valid, valid, other): hypothesis flattens nested one_of into equal branches.
    return st.integers(0, 3).flatmap(lambda pick: valid if pick else st.one_of(VALUES, st.just(ABSENT)))


BODIES = st.fixed_dictionaries(
    {
        "template": mostly(st.just(PLAN)),
        "hours": mostly(st.floats(0, 10_000_000)),
        "date": mostly(st.dates(date(2020, 1, 1), TODAY).map(str)),
        "note": mostly(st.text(max_size=30)),
        "x": st.integers(0, 3).flatmap(lambda pick: st.just(ABSENT) if pick else VALUES),
    }
).map(lambda body: {key: value for key, value in body.items() if value is not ABSENT})


@property_settings(60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(body=BODIES)
def test_generated_service_bodies_are_201_or_400(fleet, client, body):
    body = {key: fleet.pk if value is PLAN else value for key, value in body.items()}
    before = ServiceRecord.objects.filter(machine="EX001").count()
    response = client.post(URL + "EX001/service-records/", body, format="json")
    assert response.status_code in (201, 400), response.content
    event(str(response.status_code))
    if response.status_code == 201:
        stored = ServiceRecord.objects.get(pk=response.json()["id"])
        assert 0 <= stored.hours <= 10_000_000 and stored.date <= TODAY and "x" not in body
        # DONE of the cycle this service closes: the services of the machine before it.
        assert RecordingPublisher.published[-1]["event_id"] == f"EX001|{fleet.pk}|{before}|done"
    else:
        assert ServiceRecord.objects.filter(machine="EX001").count() == before
        assert set(response.json()) <= {"template", "hours", "date", "note", "x", "non_field_errors"}
