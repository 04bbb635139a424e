"""/api/v1/maintenance/templates/: strict bodies, 400 naming the field; generated bodies never 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.factories import authenticated_api_client
from tests.properties import property_settings

URL = "/api/v1/maintenance/templates/"


@pytest.fixture
def client():
    return authenticated_api_client()


def test_create_then_list_with_defaults(db, client):
    response = client.post(URL, {"name": "250 h", "interval_hours": 250, "interval_days": 30}, format="json")
    assert response.status_code == 201, response.content
    listed = client.get(URL).json()
    assert [(t["name"], t["anchor"], t["due_soon_fraction"]) for t in listed] == [("250 h", "last_service", 0.1)]


@pytest.mark.parametrize("field, value", [("interval_hours", 0), ("interval_hours", -1), ("interval_days", 0)])
def test_zero_or_negative_interval_is_400_naming_the_field(db, client, field, value):
    body = {"name": "bad", "interval_hours": 250, field: value}
    response = client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.content.decode()


def test_unknown_field_is_400_naming_it(db, client):
    response = client.post(URL, {"name": "x", "interval_hours": 250, "intervall_days": 3}, format="json")
    assert response.status_code == 400 and "intervall_days" in response.content.decode()


values = st.one_of(
    st.none(), st.integers(-10, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10)
)


@property_settings(60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(body=st.dictionaries(st.sampled_from(["name", "interval_hours", "interval_days", "anchor", "x"]), values))
def test_generated_bodies_are_201_or_400(db, client, body):
    response = client.post(URL, body, format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert response.json()["interval_hours"] > 0
