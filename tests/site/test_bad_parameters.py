"""Every parameter parser answers a value or a 400 naming the parameter, never an exception.

The whole API is fuzzed route by route in tests/reliability/test_api_robustness.py; these are the
parsers alone (any text) and the cases that were 500s (issue 17).
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from equipment_history.views import CursorField
from telemetry_site.api import MAX_TIMESTAMP_MS, TimestampField
from tests.properties import property_settings
from tests.reliability.support import use_fresh_database

# Every Unicode category, surrogates included: what a decoded parameter or a stored value can hold.
ANY_CHARACTER = st.characters(codec=None, categories=None)
ANY_TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=40),
    st.text(st.sampled_from("0123456789-+:.TZ ²³¹٣𝟗"), max_size=40),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["9", "²", "-", "[", "0"]), st.integers(20, 6000)),
)


def cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@property_settings(300, deadline=None)
@given(text=ANY_TEXT)
def test_a_timestamp_parameter_is_an_instant_in_range_or_a_validation_error(text):
    try:
        value = TimestampField().to_internal_value(text)
    except serializers.ValidationError:
        return
    assert isinstance(value, int)
    assert 0 <= value <= MAX_TIMESTAMP_MS


@property_settings(200, deadline=None)
@given(text=ANY_TEXT | st.builds(cursor, st.binary(max_size=150)))
def test_a_cursor_parameter_is_an_instant_in_range_or_a_validation_error(text):
    try:
        value = CursorField().to_internal_value(text)
    except serializers.ValidationError:
        return
    assert isinstance(value, int)
    assert 0 <= value <= MAX_TIMESTAMP_MS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1764000000000", 1764000000000),
        (" 1764000000000 ", 1764000000000),
        ("2025-11-24T16:00:00Z", 1764000000000),
        ("2025-11-24T17:00:00+01:00", 1764000000000),
        ("2025-11-24T16:00:00", 1764000000000),
        ("9999-12-31T23:59:59.999Z", MAX_TIMESTAMP_MS),
    ],
)
def test_timestamps_in_every_accepted_shape(text, expected):
    assert TimestampField().to_internal_value(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("²", "invalid"),  # str.isdigit() says yes, int() says no: was a 500
        ("1²", "invalid"),
        ("--5", "invalid"),  # lstrip("-") made it digits: was a 500
        ("9" * 5000, "range"),  # beyond int()'s 4,300 digits: was a 500
        ("9" * 21, "range"),
        ("-1", "range"),
        (str(MAX_TIMESTAMP_MS + 1), "range"),
        ("1969-12-31T23:59:59Z", "range"),
        ("2025-02-31T00:00:00Z", "invalid"),
        ("2025-11-24T16:00:00+99:00", "invalid"),
        ("2025-11-24T16:00:00Z" + " " * 10 + "x" * 60, "invalid"),
        ("", "invalid"),
    ],
)
def test_timestamps_refused_with_their_reason(text, code):
    with pytest.raises(serializers.ValidationError) as refused:
        TimestampField().to_internal_value(text)
    assert refused.value.detail[0].code == code


@pytest.mark.parametrize(
    "text",
    [
        cursor(b"[" * 100_000),  # was a RecursionError (500)
        cursor(b"[" * 140),
        cursor(json.dumps({"after": 10**30}).encode()),  # MongoDB refuses ints beyond 8 bytes
        cursor(json.dumps({"after": -1}).encode()),
        cursor(json.dumps({"after": True}).encode()),
        cursor(b"\xff\xfe"),
        "a" * 256,
        "not/base64",
    ],
)
def test_cursors_not_from_a_next_link_are_refused(text):
    with pytest.raises(serializers.ValidationError):
        CursorField().to_internal_value(text)


@pytest.mark.parametrize("after", [0, 1, 1_764_000_000_000, MAX_TIMESTAMP_MS])
def test_a_real_cursor_round_trips_at_every_bound_of_the_range(after):
    from equipment_history.views import encode_cursor

    assert CursorField().to_internal_value(encode_cursor(after)) == after


def padded_cursor(length: int) -> str:
    """A cursor of exactly ``length`` characters: {"after": 5, "x": "aaa…"}."""
    for filler in range(length):
        text = cursor(json.dumps({"after": 5, "x": "a" * filler}).encode())
        if len(text) == length:
            return text
    raise AssertionError(length)


def test_a_cursor_of_up_to_255_characters_is_read_a_longer_one_refused():
    from equipment_history.views import MAX_CURSOR_LENGTH

    assert MAX_CURSOR_LENGTH == 255
    assert CursorField().to_internal_value(padded_cursor(255)) == 5
    with pytest.raises(serializers.ValidationError):
        CursorField().to_internal_value(padded_cursor(256))


@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("/api/v1/history/X/", "from=%C2%B2&to=5", "from"),
        ("/api/v1/history/X/", "from=0&to=" + "9" * 5000, "to"),
        ("/api/v1/history/X/", "from=0&to=5&cursor=" + cursor(b"[" * 140), "cursor"),
        ("/api/v1/current/", "updated_since=%C2%B2", "updated_since"),
        ("/api/v1/usage/X/deltas/", "from=%C2%B2", "from"),
        ("/api/v1/usage/X/deltas/", "to=" + "9" * 5000, "to"),
        ("/aemp/v2/15143/-3/Fleet/Equipment/ID/X/Locations/%C2%B2/5/1", "", "startDateUTC"),
        ("/aemp/v2/15143/-3/Fleet/Equipment/ID/X/Distance/0/" + "9" * 5000 + "/1", "", "endDateUTC"),
    ],
)
def test_the_parameters_that_were_500s_are_400s_naming_the_parameter(api_client, settings, path, query, parameter):
    use_fresh_database(settings)
    response = api_client.get(path, QUERY_STRING=query)
    assert response.status_code == 400, response.content[:300]
    assert parameter in response.json()


@pytest.mark.parametrize("debug", [True, False])
def test_too_many_query_parameters_is_a_400_naming_the_query_even_under_debug(api_client, settings, debug):
    """1,500 parameters: over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000). Under DEBUG, Django's error
    page read request.GET again and turned the 400 into a 500."""
    settings.DEBUG = debug
    use_fresh_database(settings)
    query = "&".join(f"p{i}=1" for i in range(1500))
    response = api_client.get("/api/v1/current/", QUERY_STRING=query)
    assert response.status_code == 400
    assert response.json() == {"query": ["More than 1000 parameters."]}
    assert api_client.get("/api/v1/current/", QUERY_STRING=query[: query.index("p900")]).status_code == 200


@pytest.mark.parametrize("debug", [True, False])
def test_a_form_over_the_limits_is_a_400_naming_the_body_even_under_debug(client, settings, debug):
    settings.DEBUG = debug
    fields = "&".join(f"f{i}=1" for i in range(1500))
    response = client.post("/admin/login/", fields, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json() == {"body": ["More than 1000 fields."]}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/admin/login/", "x=" + "y" * 2000, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json() == {"body": ["More than 1000 bytes."]}


# -- the ops views (staff only, HTML): numbers beyond Kafka's and MongoDB's integers ----------------


@pytest.fixture
def staff_client(db):
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user("ops", is_staff=True))
    return client


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/ops/dead-letters/?offset=" + "9" * 30, 400),
        ("/admin/ops/dead-letters/?partition=" + str(2**31), 400),
        ("/admin/ops/dead-letters/?offset=%C2%B2", 400),
        ("/admin/ops/dead-letters/0/" + "9" * 30 + "/", 404),
        ("/admin/ops/dead-letters/" + "9" * 5000 + "/0/", 404),
        ("/admin/ops/silent/?minutes=" + "9" * 30, 400),
        ("/admin/ops/silent/?minutes=0", 400),
    ],
)
def test_ops_numbers_out_of_kafkas_and_mongodbs_range_are_refused_before_any_call(staff_client, settings, path, status):
    use_fresh_database(settings)
    # No broker runs here: a request that reached Kafka would fail, not answer 400 or 404.
    settings.TELEMETRY_KAFKA = {
        "default": {
            "BACKEND": "stream.kafka.KafkaClientFactory",
            "OPTIONS": {"common": {"bootstrap.servers": "127.0.0.1:9"}, "consumer": {}, "producer": {}},
        }
    }
    assert staff_client.get(path).status_code == status


@pytest.mark.parametrize(
    ("path", "formats"),
    [
        ("/api/v1/current/", "json, api"),
        ("/api/v1/history/X/", "json, api, geojson, csv"),
        ("/aemp/v2/15143/-3/Fleet/1", "json, xml, api"),
        ("/api/schema/", "yaml, json"),
    ],
)
@pytest.mark.parametrize("requested", ["", "nope", "JSON"])
def test_an_unknown_or_empty_format_is_a_400_naming_format_and_the_formats_there_are(
    api_client, settings, path, formats, requested
):
    use_fresh_database(settings)
    response = api_client.get(path, {"format": requested})
    assert response.status_code == 400
    assert f"one of {formats}." in response.content.decode()
    assert "format" in response.content.decode()
