"""/api/v1/alert-rules/ and /api/v1/alerts/: strict bodies and parameters (400 naming the field),
the alert list over the repository the consumer writes, acknowledgement."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_alerts.business_lifecycle import Alert
from telemetry_site import backends
from tests.factories import authenticated_api_client
from tests.properties import property_settings

RULES = "/api/v1/alert-rules/"
ALERTS = "/api/v1/alerts/"


@pytest.fixture
def client():
    return authenticated_api_client()


def test_create_then_list(db, client):
    body = {
        "name": "quarry exits",
        "kind": "site_exit",
        "scope": "site",
        "scope_value": "quarry",
        "duration_minutes": 3,
    }
    response = client.post(RULES, body, format="json")
    assert response.status_code == 201, response.content
    listed = client.get(RULES).json()
    assert [(r["kind"], r["scope"], r["duration_minutes"], r["threshold"]) for r in listed] == [
        ("site_exit", "site", 3.0, None)
    ]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"threshold": -1}, "threshold"),
        ({"duration_minutes": -0.5}, "duration_minutes"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"thresold": 3}, "thresold"),
        ({"scope": "machine"}, "scope_value"),
        ({"kind": "site_exit"}, "site"),
        ({"kind": "nonsense"}, "kind"),
        ({"shift_weekdays": [7]}, "shift_weekdays"),
        ({"shift_start": "18:00", "shift_end": "07:00"}, "shift_end"),
        ({"threshold": 1e300}, "threshold"),
    ],
)
def test_bad_rule_is_400_naming_the_field(db, client, change, field):
    response = client.post(RULES, {"name": "x", "kind": "after_hours", **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def save_alerts(*alerts):
    backends.repositories["alerts"].save_alerts(list(alerts), 0)


OPEN_ALERT = Alert("a1", "EX1", "builtin:after_hours", "after_hours", 1_000, None, 12.0)
RESOLVED_ALERT = Alert("a2", "EX2", "rule:7", "low_fuel", 2_000, 3_000, 11.0)


def test_alerts_filtered_by_state_machine_and_rule(mongo_db, client):
    save_alerts(OPEN_ALERT, RESOLVED_ALERT)
    assert [a["id"] for a in client.get(ALERTS).json()["results"]] == ["a2", "a1"]
    assert [a["id"] for a in client.get(ALERTS, {"state": "open"}).json()["results"]] == ["a1"]
    assert [a["id"] for a in client.get(ALERTS, {"state": "resolved"}).json()["results"]] == ["a2"]
    assert [a["id"] for a in client.get(ALERTS, {"machine": "EX2"}).json()["results"]] == ["a2"]
    assert [a["id"] for a in client.get(ALERTS, {"rule": "7"}).json()["results"]] == ["a2"]
    assert [a["id"] for a in client.get(ALERTS, {"rule": "after_hours"}).json()["results"]] == ["a1"]
    # An alert's own rule field filters as listed (a client copies what it read).
    for alert in client.get(ALERTS).json()["results"]:
        assert [a["id"] for a in client.get(ALERTS, {"rule": alert["rule"]}).json()["results"]] == [alert["id"]]
    first = client.get(ALERTS, {"machine": "EX1"}).json()["results"][0]
    assert first["start"] == "1970-01-01T00:00:01.000Z" and first["end"] is None and first["state"] == "open"


@pytest.mark.parametrize(
    "params, name",
    [
        ({"state": "closed"}, "state"),
        ({"rule": "x1"}, "rule"),
        ({"rule": "builtin:nope"}, "rule"),
        ({"rule": "rule:x"}, "rule"),
        ({"rule": "other:7"}, "rule"),
        ({"rule": "builtin:rule:7"}, "rule"),
        ({"rule": ":7"}, "rule"),
        ({"rule": "rule:after_hours"}, "rule"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_parameter_is_400_naming_it(mongo_db, client, params, name):
    response = client.get(ALERTS, params)
    assert response.status_code == 400 and name in response.json()


def test_acknowledge_keeps_the_first_and_unknown_is_404(mongo_db, client):
    save_alerts(OPEN_ALERT)
    first = client.post(f"{ALERTS}a1/ack/")
    assert first.status_code == 200 and first.json()["acked_by"] and first.json()["acked_at"]
    again = client.post(f"{ALERTS}a1/ack/").json()
    assert again["acked_at"] == first.json()["acked_at"]
    assert client.post(f"{ALERTS}nope/ack/").status_code == 404
    # The consumer rewriting the alert keeps the acknowledgement.
    save_alerts(OPEN_ALERT)
    assert client.get(ALERTS).json()["results"][0]["acked_at"] == first.json()["acked_at"]


values = st.one_of(
    st.none(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.lists(st.integers(-1, 8)),
)


@property_settings(50, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["name", "kind", "scope", "scope_value", "threshold", "shift_weekdays", "time_zone", "x"]),
        values,
    )
)
def test_generated_rule_bodies_are_201_or_400(db, client, body):
    response = client.post(RULES, body, format="json")
    assert response.status_code in (201, 400), response.content


@pytest.mark.django_db
def test_the_admin_form_refuses_what_the_api_refuses():
    from django.core.exceptions import ValidationError

    from equipment_alerts.models import AlertRule

    with pytest.raises(ValidationError) as refused:
        AlertRule(name="x", kind="after_hours", scope="machine", time_zone="Mars/Olympus").full_clean()
    assert set(refused.value.message_dict) == {"time_zone", "scope_value"}
    AlertRule(name="x", kind="after_hours", time_zone="Europe/Rome").full_clean()
