"""``/api/v1/connectors/``, its health endpoint, the admin and the metrics: secrets never leave."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from equipment_connectors.models import Connector, ConnectorStatus
from tests.properties import property_settings

pytestmark = pytest.mark.django_db
SECRETS = ("s3cret-client", "s3cret-password", "s3cret-refresh")
BODY = {
    "name": "komatsu-eu",
    "maker": "Komatsu",
    "base_url": "https://api.example.com/aemp/v2/15143/-3",
    "auth_type": "oauth2_client_credentials",
    "token_url": "https://auth.example.com/token",
    "client_id": "c40",
    "client_secret": SECRETS[0],
}


@pytest.fixture
def staff():
    client = APIClient()
    client.force_authenticate(User.objects.create_user("ops", is_staff=True))
    return client


def test_create_list_patch_delete_without_ever_returning_secrets(staff):
    created = staff.post("/api/v1/connectors/", BODY, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["poll_seconds"], body["request_budget"]) == (900, 2000)  # the defaults
    assert body["secrets_set"] == {"client_secret": True, "password": False, "refresh_token": False}
    pk = body["id"]
    patched = staff.patch(
        f"/api/v1/connectors/{pk}/", {"password": SECRETS[1], "refresh_token": SECRETS[2]}, format="json"
    )
    assert patched.status_code == 200
    assert patched.json()["secrets_set"] == dict.fromkeys(("client_secret", "password", "refresh_token"), True)
    connector = Connector.objects.get(pk=pk)
    assert (connector.client_secret, connector.password, connector.refresh_token) == SECRETS
    for response in (created, patched, staff.get("/api/v1/connectors/"), staff.get(f"/api/v1/connectors/{pk}/")):
        assert not any(secret.encode() in response.content for secret in SECRETS)
    schema = staff.get("/api/schema/")
    assert schema.status_code == 200
    assert staff.delete(f"/api/v1/connectors/{pk}/").status_code == 204
    assert not Connector.objects.exists()


def test_the_admin_never_shows_a_secret(admin_client):
    connector = Connector.objects.create(**{**BODY, "password": SECRETS[1], "refresh_token": SECRETS[2]})
    page = admin_client.get(f"/admin/equipment_connectors/connector/{connector.pk}/change/")
    assert page.status_code == 200
    assert not any(secret.encode() in page.content for secret in SECRETS)
    assert b"Leave empty to keep it" in page.content
    listing = admin_client.get("/admin/equipment_connectors/connector/")
    assert listing.status_code == 200 and SECRETS[0].encode() not in listing.content


def test_missing_credentials_are_a_400_naming_the_field(staff):
    response = staff.post("/api/v1/connectors/", {**BODY, "client_secret": ""}, format="json")
    assert response.status_code == 400
    assert "client_secret" in response.content.decode()
    response = staff.post("/api/v1/connectors/", {**BODY, "poll_seconds": 5}, format="json")
    assert response.status_code == 400 and "poll_seconds" in response.content.decode()


def test_connectors_are_staff_only(api_client):
    assert api_client.get("/api/v1/connectors/").status_code == 403
    assert APIClient().get("/api/v1/connectors/").status_code in (401, 403)


def test_health_reports_the_last_poll(staff, client):
    connector = Connector.objects.create(**BODY)
    assert staff.get(f"/api/v1/connectors/{connector.pk}/health/").json()["healthy"] is False
    now = dt.datetime.now(dt.UTC)
    ConnectorStatus.objects.create(
        connector=connector,
        last_success_at=now,
        last_error="GET x: HTTP 429",
        last_error_at=now - dt.timedelta(hours=1),
        pages=3,
        machines=250,
        messages=250,
        budget_used=4,
        budget_day=now.date(),
    )
    body = staff.get(f"/api/v1/connectors/{connector.pk}/health/").json()
    assert body["healthy"] is True
    assert (body["pages"], body["machines"], body["messages"], body["budget_used"]) == (3, 250, 250, 4)
    assert body["last_error"] == "GET x: HTTP 429"
    assert staff.get("/api/v1/connectors/999/health/").status_code == 404


def test_metrics_are_exposed(makers, kafka, mongo_db, client):
    from equipment_connectors.runner import ConnectorRunner
    from tests.connectors.conftest import connector_for

    connector_for(makers(3), "metered")
    ConnectorRunner(timeout=2.0).run_once()
    text = client.get("/metrics").content.decode()
    assert 'c40_connector_messages_published_total{connector="metered"} 3.0' in text
    assert 'c40_connector_polls_total{connector="metered",outcome="ok"} 1.0' in text
    assert 'c40_connector_budget_used{connector="metered"} 2.0' in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


@property_settings(60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(st.sampled_from([*BODY, "poll_seconds", "request_budget", "format", "enabled"]), json_values))
def test_any_body_is_a_2xx_or_a_4xx(staff, overrides):
    response = staff.post("/api/v1/connectors/", {**BODY, **overrides}, format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        Connector.objects.filter(pk=response.json()["id"]).delete()
    else:
        assert set(response.json()) & {*BODY, "poll_seconds", "request_budget", "format", "enabled", "non_field_errors"}


@pytest.mark.parametrize("pk", ["x", "99999999999999999999999999", "-1", "\u0661"])
def test_an_unknown_connector_is_a_json_404(staff, pk):
    for path in (f"/api/v1/connectors/{pk}/", f"/api/v1/connectors/{pk}/health/"):
        response = staff.get(path)
        assert response.status_code == 404 and "No connector" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("CONNECTORS_TIMEOUT_SECONDS", 0), ("CONNECTORS_MAX_PAGE_BYTES", "1MB"), ("CONNECTORS_MAX_PAGES", -1)],
)
def test_a_bad_setting_is_a_system_check_error_naming_it(settings, name, value):
    from equipment_connectors.checks import check_connector_settings

    assert check_connector_settings() == []
    setattr(settings, name, value)
    [error] = check_connector_settings()
    assert f"settings.{name} is {value!r}" in error.msg and name in error.hint


def test_saving_the_admin_form_with_empty_secret_fields_keeps_the_secrets():
    from equipment_connectors.admin import ConnectorForm

    connector = Connector.objects.create(**{**BODY, "password": SECRETS[1], "refresh_token": SECRETS[2]})
    data = {**BODY, "fleet_path": "Fleet/0", "format": "xml", "poll_seconds": 600, "request_budget": 100}
    data.update(client_secret="", password="", refresh_token="", enabled="on")
    form = ConnectorForm(data=data, instance=connector)
    assert form.is_valid(), form.errors
    form.save()
    connector.refresh_from_db()
    assert (connector.client_secret, connector.password, connector.refresh_token, connector.poll_seconds) == (
        *SECRETS,
        600,
    )
    form = ConnectorForm(data={**data, "password": "new"}, instance=connector)
    assert form.is_valid()
    form.save()
    connector.refresh_from_db()
    assert connector.password == "new"
