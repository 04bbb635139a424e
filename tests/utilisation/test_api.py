"""HTTP API and page of utilisation over rows the handler stored from generated traces."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st

from equipment_utilisation.handlers import UtilisationHandler
from tests.factories import authenticated_api_client
from tests.properties import property_settings
from tests.utilisation.fleet import HOUR_MS, MINUTE_MS, Trace, ms
from tests.utilisation.test_handler import RecordingPublisher

URL = "/api/v1/utilisation/"


@pytest.fixture
def week(mongo_db, settings):
    """An excavator and a dumper, Monday 9 to Sunday 15 March 2026 (Europe/Rome): 6 h a weekday
    and 4 h on Saturday of work, the dumper idling 30 min a day on top."""
    settings.UTILISATION_TIME_ZONE = "Europe/Rome"
    records = []
    for machine, model in (("EX1", "320"), ("DT1", "B30E")):
        trace = Trace(machine, model, ms("2026-03-09 00:00"), step_ms=15 * MINUTE_MS)
        for weekday in range(7):
            worked = 6 if weekday < 5 else 4 if weekday == 5 else 0
            idle = 30 if model == "B30E" and worked else 0
            trace.run("off", 8 * HOUR_MS).run("work", worked * HOUR_MS).run(
                "idle", idle * MINUTE_MS, step_ms=5 * MINUTE_MS
            )
            trace.run("off", (16 - worked) * HOUR_MS - idle * MINUTE_MS)
        records += trace.readings
    UtilisationHandler(publisher=RecordingPublisher()).process(records)
    return records


@pytest.fixture
def client():
    return authenticated_api_client()


def test_a_week_by_machine(client, week):
    response = client.get(URL, {"from": "2026-03-09", "to": "2026-03-15", "group_by": "week"})
    assert response.status_code == 200, response.content
    by_machine = {row["machine"]: row for row in response.json()["results"]}
    excavator, dumper = by_machine["EX1"], by_machine["DT1"]
    assert (excavator["engine_hours"], excavator["available_hours"]) == (34.0, 40.0)
    assert (excavator["utilisation_pct"], excavator["calendar_utilisation_pct"]) == (85.0, 20.24)
    assert excavator["machine_class"] == "excavator" and excavator["idle_hours"] == 0 and excavator["days"] == 7
    assert dumper["engine_hours"] == 37.0 and dumper["idle_hours"] == 3.0 and dumper["idle_runs_over_9"] == 6
    assert dumper["idle_pct"] == round(100 * 3 / 37, 2) and dumper["fuel_l_per_h"] == 10.0


def test_days_months_and_filters(client, week):
    days = client.get(URL, {"from": "2026-03-14", "to": "2026-03-15", "machine": "EX1"}).json()["results"]
    assert [(d["period_start"], d["engine_hours"], d["available_hours"]) for d in days] == [
        ("2026-03-14", 4.0, 0.0),
        ("2026-03-15", 0.0, 0.0),
    ]
    assert days[0]["utilisation_pct"] is None  # nothing was available on Saturday
    month = client.get(URL, {"from": "2026-03-01", "to": "2026-03-31", "group_by": "month", "site": "Cantiere A"})
    [ex, _dumper] = sorted(month.json()["results"], key=lambda row: row["machine"], reverse=True)
    assert (ex["period_start"], ex["period_end"], ex["days"], ex["days_reported"]) == (
        "2026-03-01",
        "2026-03-31",
        31,
        8,
    )
    assert ex["available_hours"] == 22 * 8.0  # every weekday of March, reported or not
    assert client.get(URL, {"from": "2026-03-09", "to": "2026-03-15", "site": "elsewhere"}).json()["results"] == []


def test_csv(client, week):
    response = client.get(URL, {"from": "2026-03-09", "to": "2026-03-15", "group_by": "week", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {line["machine"]: line["utilisation_pct"] for line in lines} == {"DT1": "92.5", "EX1": "85.0"}


def test_timeline(client, week):
    response = client.get(f"{URL}DT1/timeline/", {"date": "2026-03-10"})
    assert response.status_code == 200, response.content
    runs = [(run["state"], run["start"][11:16], run["end"][11:16]) for run in response.json()["runs"]]
    assert runs == [
        ("off", "00:00", "08:00"),
        ("working", "08:00", "14:00"),
        ("idle", "14:00", "14:30"),
        ("off", "14:30", "00:00"),
    ]
    assert response.json()["runs"][0]["start"] == "2026-03-10T00:00:00+01:00"
    excavator = client.get(f"{URL}EX1/timeline/", {"date": "2026-03-10"}).json()
    assert excavator["machine_class"] == "excavator"
    assert client.get(f"{URL}NOPE/timeline/", {"date": "2026-03-10"}).status_code == 404


@pytest.mark.parametrize(
    "params, offending",
    [
        ({"to": "2026-03-15"}, "from"),
        ({"from": "2026-03-15", "to": "2026-03-01"}, "to"),
        ({"from": "2026-03-01", "to": "2030-03-01"}, "to"),
        ({"from": "2026-03-01", "to": "2026-03-02", "group_by": "year"}, "group_by"),
        ({"from": "2026-03-01", "to": "2026-03-02", "format": "xml"}, "format"),
        ({"from": "2026-02-30", "to": "2026-03-02"}, "from"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, mongo_db, params, offending):
    response = client.get(URL, params)
    assert response.status_code == 400 and offending in response.json(), response.content


def test_a_bad_csv_request_is_a_json_400(client, mongo_db):
    response = client.get(URL, {"from": "x", "to": "2026-03-02", "format": "csv"})
    assert response.status_code == 400 and "from" in response.json()


@given(
    params=st.dictionaries(
        st.sampled_from(["from", "to", "group_by", "site", "machine", "format", "x"]), st.text(max_size=12)
    )
)
@example(params={"from": "2026-03-01", "to": "2026-03-01", "machine": "\x00"})
@property_settings(60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_string_is_an_answer_or_a_400_naming_a_parameter(client, mongo_db, params):
    response = client.get(URL, params)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert set(response.json()) <= {"from", "to", "group_by", "site", "machine", "format"}


@pytest.mark.django_db
def test_the_page_draws_a_bar_per_machine_and_day(week):
    staff = Client()
    staff.force_login(User.objects.create_user("ops", password="x", is_staff=True))
    response = staff.get("/admin/ops/utilisation/", {"to": "2026-03-15", "days": "7"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('role="img"') == 2 and page.count('class="working"') == 12 and page.count('class="idle"') == 6
    assert "EX1" in page and "85.0 %" in page
    assert staff.get("/admin/ops/utilisation/", {"days": "0"}).status_code == 400
    assert Client().get("/admin/ops/utilisation/").status_code == 302  # staff only
    call_command("check", "--fail-level", "ERROR")
