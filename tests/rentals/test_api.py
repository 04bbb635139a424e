"""HTTP API of rentals: strict contracts, statements, CSV/XLSX exports, meter readings."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_rentals.models import RentalContract
from equipment_rentals.statements import refresh
from tests.factories import authenticated_api_client
from tests.properties import property_settings
from tests.rentals.fleet import RecordingPublisher, feed, june_195_july_170

pytestmark = pytest.mark.django_db
URL = "/api/v1/rentals/"
BODY = {
    "customer_ref": "CUST-1",
    "machine": "EX1",
    "serial": "SN-1",
    "on_rent": "2026-06-01T00:00:00Z",
    "off_rent": "2026-08-01T00:00:00Z",
    "basis": "month",
    "base_rate": "6000.00",
    "currency": "EUR",
}


@pytest.fixture
def client():
    return authenticated_api_client()


@pytest.fixture
def issued(client, mongo_db):
    feed(june_195_july_170())
    response = client.post(URL, BODY, format="json")
    assert response.status_code == 201, response.content
    refresh(RentalContract.objects.all(), datetime(2026, 8, 2, tzinfo=UTC), RecordingPublisher())
    return response.json()["id"]


def test_create_read_change_delete(client):
    created = client.post(URL, {**BODY, "pooled": True, "shift_multiplier": 2}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["pooled"], body["shift_multiplier"], body["overtime_factor"]) == (True, 2, "1.000")
    url = f"{URL}{body['id']}/"
    assert client.get(url).json()["machine"] == "EX1"
    assert client.patch(url, {"base_rate": "6600"}, format="json").json()["base_rate"] == "6600.00"
    assert [c["id"] for c in client.get(URL).json()] == [body["id"]]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"off_rent": "2026-05-01T00:00:00Z"}, "off_rent"),
        ({"off_rent": "2026-06-01T00:00:00Z"}, "off_rent"),
        ({"on_rent": "0001-01-01T00:00:00Z", "off_rent": None}, "on_rent"),
        ({"off_rent": "2100-01-01T00:00:00Z"}, "off_rent"),
        ({"currency": "EUX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"basis": "year"}, "basis"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"overtime_factor": "0.5"}, "overtime_factor"),
        ({"shift_multiplier": 4}, "shift_multiplier"),
        ({"allowance_hours": "0"}, "allowance_hours"),
        ({"base_rate": "-1"}, "base_rate"),
        ({"rate": "1"}, "rate"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, change, field):
    response = client.post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400 and list(response.json()) == [field], response.content


@pytest.mark.parametrize(
    ("on_rent", "off_rent"),
    [
        ("2026-07-31T23:00:00Z", None),  # open end, starts inside
        ("2026-05-01T00:00:00Z", "2026-06-01T00:00:01Z"),  # ends one second inside
        ("2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z"),  # inside
    ],
)
def test_overlapping_contracts_for_one_machine_are_a_400_naming_machine(client, on_rent, off_rent):
    assert client.post(URL, BODY, format="json").status_code == 201
    response = client.post(URL, {**BODY, "on_rent": on_rent, "off_rent": off_rent}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["machine"], response.content
    # Back to back is no overlap; another machine neither.
    assert client.post(URL, {**BODY, "on_rent": BODY["off_rent"], "off_rent": None}, format="json").status_code == 201
    assert client.post(URL, {**BODY, "machine": "EX2"}, format="json").status_code == 201


def test_changing_a_contract_into_an_overlap_is_refused(client):
    first = client.post(URL, BODY, format="json").json()["id"]
    client.post(URL, {**BODY, "on_rent": "2026-08-01T00:00:00Z", "off_rent": None}, format="json")
    response = client.patch(f"{URL}{first}/", {"off_rent": "2026-08-02T00:00:00Z"}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["machine"]
    assert client.patch(f"{URL}{first}/", {"customer_ref": "CUST-2"}, format="json").status_code == 200


def test_statement_lines_carry_the_issue_columns(client, issued):
    body = client.get(f"{URL}{issued}/statement/").json()
    assert body["version"] == 1 and body["totals"]["total"] == "12647.73"
    june = body["lines"][0]
    assert {key: june[key] for key in ("contract_id", "machine", "serial", "period_start", "period_end")} == {
        "contract_id": issued,
        "machine": "EX1",
        "serial": "SN-1",
        "period_start": "2026-06-01T00:00:00+00:00",
        "period_end": "2026-07-01T00:00:00+00:00",
    }
    assert (june["hours_start"], june["hours_end"], june["hours_used"], june["allowance"]) == (
        "1000.00",
        "1195.00",
        "195.00",
        "176.00",
    )
    assert (june["excess_hours"], june["excess_rate"], june["excess_amount"], june["currency"]) == (
        "19.00",
        "34.0909",
        "647.73",
        "EUR",
    )
    assert june["data_gap_hours"] == "0.00" and june["version"] == 1
    assert client.get(f"{URL}{issued}/statement/?version=2").status_code == 404
    live = client.get(f"{URL}{issued}/statement/?live=true").json()
    assert live["version"] is None and live["totals"]["total"] == "12647.73"
    assert client.get(f"{URL}{issued}/statement/?version=x").json().keys() == {"version"}


def test_export_csv_has_one_row_per_period(client, issued):
    response = client.get(f"{URL}export/?from=2026-06-01&to=2026-07-31&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["period_start"], r["excess_amount"], r["version"]) for r in rows] == [
        ("2026-06-01T00:00:00+00:00", "647.73", "1"),
        ("2026-07-01T00:00:00+00:00", "0.00", "1"),
    ]
    only_july = client.get(f"{URL}export/?from=2026-07-01&to=2026-07-01&format=csv")
    assert len(list(csv.DictReader(io.StringIO(only_july.content.decode())))) == 1


def test_export_xlsx_has_typed_cells(client, issued):
    response = client.get(f"{URL}export/?from=2026-06-01&to=2026-07-31&format=xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    june = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert june["period_start"] == datetime(2026, 6, 1) and june["utc_offset"] == "+0000"
    assert june["excess_amount"] == pytest.approx(647.73) and isinstance(june["excess_amount"], float)
    assert isinstance(june["hours_used"], float | int) and june["hours_used"] == 195
    assert june["contract_id"] == issued and june["customer_ref"] == "CUST-1"
    assert sheet.cell(2, header.index("period_end") + 1).is_date


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-06-01&to=2026-07-31&format=pdf", "format"),
        ("from=2026-06-01&to=2026-05-31&format=csv", "to"),
        ("to=2026-05-31&format=csv", "from"),
        ("from=2026-06-31&to=2026-07-31&format=csv", "from"),
    ],
)
def test_export_bad_parameters_are_a_400_naming_them(client, query, field):
    response = client.get(f"{URL}export/?{query}")
    assert response.status_code == 400 and field in response.json(), response.content


def test_formula_like_text_is_defused_in_csv(client, issued):
    RentalContract.objects.update(customer_ref="=HYPERLINK(1)")
    response = client.get(f"{URL}export/?from=2026-06-01&to=2026-07-31&format=csv")
    assert "'=HYPERLINK(1)" in response.content.decode()  # the issued version keeps its contract's columns live


def test_meter_reading_csv(client, mongo_db):
    feed(june_195_july_170())
    response = client.get(f"{URL}meter-readings/?from=2026-06-01T00:00:00Z&to=2026-06-01T03:00:00Z&machine=EX1")
    assert response.status_code == 200, response.content
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["machine", "reading_time", "hours_tot"],
        ["EX1", "2026-06-01T00:00:00.000Z", "1000.0"],
        ["EX1", "2026-06-01T01:00:00.000Z", "1001.0"],
        ["EX1", "2026-06-01T02:00:00.000Z", "1002.0"],
    ]
    bad = client.get(f"{URL}meter-readings/?from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z")
    assert bad.status_code == 400 and "to" in bad.json()


field_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-5, 10**6),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10, max_value=10**5).map(str),
)


@property_settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*BODY, "pooled", "overtime_factor", "allowance_hours", "period_days", "time_zone", "x"]),
        field_values,
        max_size=5,
    )
)
def test_any_body_is_a_201_or_a_400_naming_fields(client, change):
    RentalContract.objects.all().delete()
    response = client.post(URL, {**BODY, **change}, format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert set(response.json()) <= {*BODY, *change, "pooled", "overtime_factor"}
    else:
        stored = RentalContract.objects.get()
        assert stored.currency in {"EUR", change.get("currency")} and stored.base_rate >= Decimal(0)


query_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["2026-06-01", "2026-07-31", "csv", "xlsx", "true", "1", "0", "", "2026-06-01T00:00:00Z"]),
)


@property_settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.sampled_from(["export/", "meter-readings/", "1/statement/"]),
    st.dictionaries(st.sampled_from(["from", "to", "format", "machine", "version", "live"]), query_values, max_size=4),
)
def test_any_query_string_is_an_answer_or_a_400_naming_a_parameter(client, mongo_db, route, params):
    RentalContract.objects.get_or_create(pk=1, defaults={**BODY, "base_rate": Decimal(6000)})
    response = client.get(f"{URL}{route}", params)
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code == 400:
        assert set(response.json()) <= {*params, "from", "to", "format"}, (params, response.content)


def test_a_contract_with_issued_statements_cannot_be_deleted(client, issued):
    response = client.delete(f"{URL}{issued}/")
    assert response.status_code == 409 and "off_rent" in response.json()["detail"]
    assert RentalContract.objects.filter(pk=issued).exists()


def test_the_admin_form_applies_the_api_rules(client):
    from django.core.exceptions import ValidationError

    assert client.post(URL, BODY, format="json").status_code == 201
    overlapping = RentalContract(**{**BODY, "on_rent": "2026-07-01T00:00:00Z", "off_rent": None, "currency": "XXY"})
    with pytest.raises(ValidationError) as caught:
        overlapping.full_clean()
    assert set(caught.value.message_dict) == {"machine", "currency"}


def test_the_admin_lists_contracts_and_shows_statements_read_only(admin_client, issued):
    assert admin_client.get("/admin/equipment_rentals/rentalcontract/").status_code == 200
    assert admin_client.get("/admin/equipment_rentals/rentalstatement/").status_code == 200
    assert admin_client.get("/admin/equipment_rentals/rentalstatement/add/").status_code == 403


@pytest.mark.parametrize(
    "path", [URL, f"{URL}1/", f"{URL}1/statement/", f"{URL}export/?from=2026-06-01&to=2026-06-01&format=csv"]
)
def test_rentals_require_authentication(path):
    from rest_framework.test import APIClient

    response = APIClient().get(path)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_export_takes_each_contracts_newest_version(client, issued):
    RentalContract.objects.filter(pk=issued).update(base_rate=Decimal(6600))
    refresh(RentalContract.objects.all(), datetime(2026, 8, 2, tzinfo=UTC), RecordingPublisher())
    response = client.get(f"{URL}export/?from=2026-06-01&to=2026-07-31&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["version"], r["base_amount"]) for r in rows] == [("2", "6600.00"), ("2", "6600.00")]
    assert client.get(f"{URL}{issued}/statement/?version=1").json()["lines"][0]["base_amount"] == "6000.00"


@pytest.mark.parametrize("version", ["0", "2147483648", "99999999999999999999999", "1.5"])
def test_an_out_of_range_version_is_a_400_naming_it(client, issued, version):
    response = client.get(f"{URL}{issued}/statement/?version={version}")
    assert response.status_code == 400 and list(response.json()) == ["version"]
