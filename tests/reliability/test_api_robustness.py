"""API robustness: no request gets a 500, and every answer is well-formed and matches the schema.

Two generators over every route of the OpenAPI schema (/api/schema/), with a real token:

- our own hypothesis property: arbitrary strings (every Unicode category, surrogates included,
  number and date lookalikes, values of thousands of characters) in every query parameter and
  path segment, parameters repeated, unknown ones, and floods beyond Django's 1,000-field limit,
  sent as raw bytes through the WSGI application;
- schemathesis in its most thorough mode: every phase (examples, coverage, fuzzing, stateful),
  positive and negative data, every check, against a live HTTP server.

Explicit huge ranges and page sizes are 400s. Figures: docs/RELIABILITY.md, "Bad input".
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from collections import Counter
from urllib.parse import quote, unquote_to_bytes
from xml.etree import ElementTree

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.config import HealthCheck as SchemathesisHealthCheck
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import events, from_schema
from schemathesis.generation import GenerationMode
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wsgi import LimitedStream

from equipment_current.business import fold_state_updates
from equipment_history.business import Position, extract_positions
from telemetry_site import backends
from tests.reliability.support import fleet_stream, use_fresh_database

pytestmark = pytest.mark.reliability

# Requests per operation of our property (12 operations). API_FUZZ_EXAMPLES=2000 for a long run.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "40"))
# schemathesis' examples per operation and phase. SCHEMATHESIS_EXAMPLES=500 for a long run.
SCHEMATHESIS_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
# Stored texts with control characters, NUL and the delimiters of CSV and XML (old data).
ODD_TEXT = "NC\x00NUL \x01\x1f ]]> <&> \"q\", 'q'\r\nline;"


@pytest.fixture
def token(transactional_db) -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=User.objects.create_user("fuzzer")).key


@pytest.fixture
def seeded_api(settings, token):
    """The WSGI application over a database holding a small fleet, and one machine whose stored
    texts hold control characters and delimiters."""
    use_fresh_database(settings)
    now = int(time.time() * 1000)
    stream = fleet_stream(400, machines=20, seed=12, now_ms=now)
    backends.repositories["current_state"].apply(fold_state_updates(stream).values())
    backends.repositories["positions"].insert(extract_positions(stream))
    backends.repositories["positions"].insert([Position("ODD", now - 1000, 45.0, 9.0, ODD_TEXT, (ODD_TEXT,), ODD_TEXT)])
    backends.databases["default"]["current_state"].insert_one(
        {"_id": "ODD", "identifier": "ODD", "last_event_at": now, "description": {"brand": ODD_TEXT, "at": now}}
    )
    return get_wsgi_application()


@pytest.fixture
def api_schema(seeded_api):
    # /ready also asks the broker (none here: each call would wait READY_TIMEOUT_SECONDS for a 503
    # the health tests already cover); /health touches nothing.
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", seeded_api).exclude(path_regex="^/(ready|health)")


# -- our property: any text in any parameter of any route ------------------------------------------

EVERY_CATEGORY = st.characters(codec=None, categories=None)
PLAUSIBLE = [
    "RL001",
    "ODD",
    "1",
    "2",
    "0",
    "-1",
    "",
    " ",
    "1e309",
    "nan",
    "inf",
    "null",
    "[]",
    "%",
    "..",
    "json",
    "api",
    "geojson",
    "csv",
    "xml",
    "day",
    "poi",
    "2025-11-24T16:00:00Z",
    "2025-02-30",
    "1764000000000",
    "9999-12-31T23:59:59.999Z",
    "0,0,10,10",
    "-180,-90,180,90",
]
VALUE = st.one_of(
    st.text(EVERY_CATEGORY, max_size=30),
    st.text(st.sampled_from("0123456789-+:.,TZ ²³¹٣\u0663"), min_size=1, max_size=25),
    st.sampled_from(PLAUSIBLE),
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["9", "²", "[", "a", "\x00", "é", "\U0001d7d7", "\ud800"]),
        st.integers(1000, 8000),
    ),
)
FLOOD = 1500  # parameters, over DATA_UPLOAD_MAX_NUMBER_FIELDS
# Every renderer's format, drawn often enough that each answers: the last ?format= wins.
FORMATS = ["json", "api", "geojson", "csv", "xml"]


def encoded(text: str) -> str:
    """Percent-encoded UTF-8; a lone surrogate goes out as the 3 bytes a careless client would send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def well_formed(response) -> None:
    """The body parses as what its Content-Type says."""
    media_type = response.mimetype
    body = response.get_data()
    text = body.decode("utf-8")  # strict: every format here is UTF-8
    if media_type in ("application/json", "application/geo+json"):
        json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    elif media_type == "text/csv":
        list(csv.reader(io.StringIO(text, newline=""), strict=True))
    elif media_type == "application/xml":
        ElementTree.fromstring(body)  # the AEMP feed
    else:
        assert media_type == "text/html", media_type  # the browsable API, escaped by Django's templates


def fuzz(operation, client: Client, headers: dict, kinds: Counter, statuses: Counter) -> None:
    """EXAMPLES generated requests to one operation; counts them by kind and status."""
    path_names = [p.name for p in operation.iter_parameters() if p.location == ParameterLocation.PATH]
    query_names = [p.name for p in operation.iter_parameters() if p.location == ParameterLocation.QUERY]
    senders = sorted({*query_names, "format", "unknown"})

    @given(
        path=st.fixed_dictionaries({name: VALUE for name in path_names}),
        query=st.lists(
            st.tuples(st.sampled_from(senders), VALUE) | st.tuples(st.just("format"), st.sampled_from(FORMATS)),
            max_size=8,
        ),
        flood=st.integers(0, 14).map(lambda n: n == 0),
    )
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: CI must not pass or fail by luck
        suppress_health_check=list(HealthCheck),
    )
    def call(path: dict, query: list, flood: bool) -> None:
        url = operation.path
        for name, value in path.items():
            url = url.replace("{" + name + "}", encoded(value))
        pairs = [f"{encoded(name)}={encoded(value)}" for name, value in query]
        if flood:
            pairs += ["p"] * FLOOD
        response = client.get(
            "/",
            headers=headers,
            environ_overrides={
                "PATH_INFO": unquote_to_bytes(url).decode("latin-1"),
                "QUERY_STRING": "&".join(pairs),
            },
        )
        values = [*path.values(), *(value for _, value in query)]
        # A "/" (sent as %2F) or an empty segment routes the request elsewhere: 404 or another
        # view's answer, which this operation's schema does not describe.
        rerouted = any(value == "" or "/" in value for value in path.values())
        kinds.update(
            {
                "requests": 1,
                "a value of 1,000+ characters": any(len(v) >= 1000 for v in values),
                "a lone surrogate or control character": any(
                    ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 for v in values for c in v[:50]
                ),
                "a repeated parameter": len({name for name, _ in query}) < len(query),
                "an unknown parameter": any(name == "unknown" for name, _ in query),
                f"{FLOOD} parameters": flood,
                "a path rerouted by / or an empty segment": rerouted,
            }
        )
        statuses[response.status_code] += 1
        kinds[f"answered as {response.mimetype}"] += 1
        assert response.status_code < 500, (operation.label, url, pairs[:8], response.get_data()[:500])
        well_formed(response)
        if rerouted:
            return
        assert operation.responses.find_by_status_code(response.status_code) is not None, (
            f"{operation.label} answered an undocumented {response.status_code}",
            url,
            pairs[:8],
            response.get_data()[:300],
        )
        if response.mimetype == "application/json":
            operation.validate_response(response)
        if response.status_code == 400 and response.mimetype == "application/json":
            named = set(response.get_json())
            assert named <= {*path_names, *query_names, "format", "query"}, (operation.label, named, pairs[:8])

    call()


def test_any_text_in_any_parameter_of_any_route_gets_no_500_and_a_documented_schema_valid_answer(api_schema, token):
    client = Client(api_schema.app)
    headers = {"Authorization": f"Token {token}"}
    # GET operations: this property sends GETs (writes are in the schemathesis run below).
    operations = [
        op for op in (result.ok() for result in api_schema.get_all_operations()) if op.method.upper() == "GET"
    ]
    assert len(operations) >= 12, [op.label for op in operations]
    kinds: Counter = Counter()
    statuses: Counter = Counter()
    for operation in operations:
        fuzz(operation, client, headers, kinds, statuses)
    print(
        f"\nRELIABILITY api-fuzz operations={len(operations)} "
        + " ".join(f"{kind!r}={count}" for kind, count in kinds.items())
        + f" statuses={dict(sorted(statuses.items()))} server_errors=0"
    )


# -- schemathesis, most thorough mode --------------------------------------------------------------


def discarding_unread_bodies(app):
    """The application, after which whatever of the request body it did not read is read and
    dropped, as gunicorn does. A view that refuses a POST before parsing it (a 403 for a non-staff
    user) reads no body; werkzeug's server then blocks reading the rest until the client closes,
    while the client waits for the answer: a timeout that production never sees."""

    def application(environ, start_response):
        length = environ.get("CONTENT_LENGTH", "")
        body = LimitedStream(environ["wsgi.input"], int(length)) if length.isdigit() else None
        if body is not None:
            environ["wsgi.input"] = body
        try:
            return app(environ, start_response)
        finally:
            if body is not None:
                body.exhaust()

    return application


@pytest.fixture
def live_api(seeded_api):
    """The application behind a real HTTP server (one thread: the in-process store is shared)."""
    server = make_server("127.0.0.1", 0, discarding_unread_bodies(seeded_api))
    thread = threading.Thread(target=server.serve_forever, name="api-under-test", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_schemathesis_all_phases_positive_and_negative_data_every_check(live_api, token):
    """Phases examples, coverage (every boundary and invalid shape of each parameter), fuzzing and
    stateful (links between operations); positive and negative data; every check but "schema-valid
    request rejected" (the schema types bbox, from/to as strings and leaves their format to the
    prose, so a 400 for bbox=GPS is the documented answer). schemathesis' pytest integration does
    not load under pytest 9, so its engine runs directly, as its CLI does."""
    schema = schemathesis.openapi.from_url(f"{live_api}/api/schema/?format=json").exclude(path_regex="^/(ready|health)")
    config = schema.config
    config.update(
        headers={"Authorization": f"Token {token}"}, suppress_health_check=[SchemathesisHealthCheck.all], workers=1
    )
    config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
    config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=SCHEMATHESIS_EXAMPLES,
        deterministic=True,  # the same requests on every run
    )
    config.checks.update(excluded_check_names=["positive_data_acceptance"])
    # No cache of earlier runs' failures (a .schemathesis/ directory): every run sends the same requests.
    config.cache.enabled = False
    requests: Counter = Counter()
    statuses: Counter = Counter()
    failures: list[str] = []
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            requests[event.phase.value] += len(event.recorder.interactions)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    statuses[interaction.response.status_code] += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        interaction = event.recorder.interactions.get(case_id)
                        failures.append(
                            f"{event.recorder.label} {check.name}: {str(check.failure_info.failure)[:300]} "
                            f"({interaction.request.uri[:200] if interaction else '?'})"
                        )
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(
                f"{getattr(event, 'label', '')}: {event.value!r}"[:400] if hasattr(event, "value") else repr(event)
            )
    assert not errors, errors
    assert not failures, failures[:10]
    assert requests["coverage"] and requests["fuzzing"] and requests["stateful"], requests
    assert statuses and max(statuses) < 500
    print(
        f"\nRELIABILITY schemathesis requests={sum(requests.values())} by_phase={dict(requests)} "
        f"statuses={dict(sorted(statuses.items()))} failures=0 server_errors=0"
    )


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/current/", {"page_size": 10**9}, "page_size"),
        ("/api/v1/current/", {"page_size": 1001}, "page_size"),
        ("/api/v1/current/", {"page": -1}, "page"),
        ("/api/v1/history/RL001/", {"from": 0, "to": 4_102_444_800_000}, None),
        ("/api/v1/history/RL001/", {"from": "1970-01-01T00:00:00Z", "to": "2300-01-01T00:00:00Z"}, None),
        ("/api/v1/history/RL001/", {"from": 0, "to": 10**30}, None),
        ("/api/v1/history/RL001/", {"page_size": 10**12}, "page_size"),
        ("/api/v1/history/locations/today/", {"page_size": 10**6}, "page_size"),
    ],
)
def test_huge_ranges_and_page_sizes_are_refused_with_400(api_client, settings, path, params, parameter):
    use_fresh_database(settings)
    response = api_client.get(path, params)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    if parameter:
        assert parameter in response.json()
