"""Authentication of the API, the token command, and the OpenAPI schema."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/current/",
        "/api/v1/current/EX1/",
        "/api/v1/history/EX1/",
        "/api/v1/history/locations/today/",
        "/api/v1/usage/search/",
        "/api/v1/usage/debug/lastdata/",
        "/api/v1/usage/EX1/deltas/",
        "/aemp/v2/15143/-3/Fleet/1",
    ],
)
def test_api_requires_authentication(path, mongo_db):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("path", ["/health", "/api/schema/", "/api/docs/", "/api/redoc/"])
def test_open_paths(path):
    assert APIClient().get(path).status_code == 200


def test_trusted_network_setting_opens_reads_only(settings, mongo_db):
    settings.API_ALLOW_ANONYMOUS_READ = True
    client = APIClient()
    assert client.get("/api/v1/current/").status_code == 200
    assert client.post("/api/v1/current/", {}).status_code == 401


@pytest.mark.django_db
def test_token_command_creates_a_working_token(mongo_db):
    out = StringIO()
    call_command("create_api_token", "erp", stdout=out)
    key = out.getvalue().strip()
    assert len(key) == 40
    again = StringIO()
    call_command("create_api_token", "erp", stdout=again)
    assert again.getvalue().strip() == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/current/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/v1/current/").status_code == 401
    rotated = StringIO()
    call_command("create_api_token", "erp", "--rotate", stdout=rotated)
    assert rotated.getvalue().strip() != key


def test_openapi_schema_generates_without_warnings_and_documents_every_endpoint():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    paths = schema["paths"]
    assert {
        "/api/v1/current/",
        "/api/v1/current/{identifier}/",
        "/api/v1/history/{identifier}/",
        "/api/v1/history/locations/today/",
        "/api/v1/usage/search/",
        "/api/v1/usage/debug/lastdata/",
        "/api/v1/usage/{identifier}/deltas/",
        "/aemp/v2/15143/-3/Fleet/{page}",
        "/aemp/v2/15143/-3/Fleet/Equipment/ID/{id}",
        "/aemp/v2/15143/-3/Fleet/Equipment/ID/{id}/Locations/{startDateUTC}/{endDateUTC}/{page}",
        "/aemp/v2/15143/-3/Fleet/Equipment/ID/{id}/CumulativeOperatingHours/{startDateUTC}/{endDateUTC}/{page}",
        "/aemp/v2/15143/-3/Fleet/Equipment/ID/{id}/Distance/{startDateUTC}/{endDateUTC}/{page}",
        "/health",
        "/ready",
    } <= set(paths)
    # The catch-all of unknown time-series elements answers 404 and is not an operation.
    assert not any("{element}" in path for path in paths)
    aemp_fleet = paths["/aemp/v2/15143/-3/Fleet/{page}"]["get"]
    assert aemp_fleet["operationId"] == "aemp_fleet"
    assert set(aemp_fleet["responses"]["200"]["content"]) == {"application/json", "application/xml"}
    assert {"400", "401", "404"} <= set(aemp_fleet["responses"])
    series = paths["/aemp/v2/15143/-3/Fleet/Equipment/ID/{id}/Distance/{startDateUTC}/{endDateUTC}/{page}"]["get"]
    assert {p["name"] for p in series["parameters"] if p["in"] == "path"} == {
        "id",
        "startDateUTC",
        "endDateUTC",
        "page",
    }
    assert set(schema["components"]["schemas"]["AempEquipment"]["required"]) == {"EquipmentHeader"}
    history = paths["/api/v1/history/{identifier}/"]["get"]
    assert {p["name"] for p in history["parameters"]} >= {"from", "to", "cursor", "page_size"}
    fleet = paths["/api/v1/current/"]["get"]
    assert {p["name"] for p in fleet["parameters"]} >= {
        "brand",
        "model",
        "poi",
        "updated_since",
        "bbox",
        "stale_minutes",
        "page",
        "page_size",
    }
    assert "400" in fleet["responses"] and "200" in fleet["responses"]
