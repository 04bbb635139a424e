"""The feed walk on generated answers (a fetch function, no server): whatever a maker sends, a poll
ends in pages, a ``ConnectorError`` or a ``Suspended`` with a wait, never another exception."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from equipment_connectors.auth import Authorizer, Credentials
from equipment_connectors.feed import Budget, ConnectorError, FeedWalk, Suspended, WalkState, backoff, retry_after
from equipment_connectors.transport import Response
from tests.properties import property_settings

SAMPLES = Path(__file__).parents[1] / "aemp" / "samples"
FIRST = "https://maker.example/aemp/Fleet/1"


def walk(answers: list[Response], fmt: str = "xml") -> tuple[list, list[str]]:
    asked: list[str] = []

    def get(url: str, headers: dict) -> Response:
        asked.append(url)
        return answers[min(len(asked) - 1, len(answers) - 1)]

    authorizer = Authorizer(Credentials("none"), None, post=None, clock=lambda: 0.0)
    feed = FeedWalk(WalkState(FIRST), fmt=fmt, authorizer=authorizer, get=get, budget=Budget(50, 0), clock=lambda: 0.0)
    return list(feed.pages()), asked


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.sampled_from([p.read_bytes() for p in sorted(SAMPLES.glob("*.xml"))]),
    st.builds(
        lambda inner: f'<Fleet xmlns="http://standards.iso.org/iso/15143/-3">{inner}</Fleet>'.encode(),
        st.sampled_from(
            [
                "",
                "<Links><rel>next</rel><href>/aemp/Fleet/2</href></Links>",
                "<Equipment/>",
                "<Links><rel>next</rel><href>https://elsewhere.example/x</href></Links>",
            ]
        ),
    ),
)


@property_settings(300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([200, 200, 200, 301, 401, 404, 429, 500, 503]), bodies), min_size=1, max_size=4),
    st.sampled_from(["xml", "json"]),
)
def test_any_answer_ends_in_pages_or_a_named_error(answers, fmt):
    responses = [Response(FIRST, status, body, {}) for status, body in answers]
    try:
        pages, asked = walk(responses, fmt)
    except Suspended as suspended:
        assert suspended.wait >= 30 and suspended.url.startswith("https://maker.example/")
    except ConnectorError as error:
        assert str(error)
    else:
        assert len(asked) <= 50 and len(pages) <= len(asked)


def test_a_sample_page_with_a_foreign_next_link_is_refused():
    body = (SAMPLES / "wacker_neuson_trackunit_fleet.xml").read_bytes()  # next: iris.trackunit.com
    try:
        walk([Response(FIRST, 200, body, {})])
    except ConnectorError as error:
        assert "leaves" in str(error) and "iris.trackunit.com" in str(error)
    else:
        raise AssertionError("a next link to another host was followed")


def test_backoff_rules():
    assert backoff(429, 1, 0) == 60 and backoff(429, 1, 120) == 120 and backoff(429, 9, 10**9) == 3600
    assert [backoff(500, n, 0) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30) == 30
    assert retry_after("soon", 0) == 0 and retry_after(None, 0) == 0


token_answers = st.one_of(
    st.binary(max_size=100),
    st.dictionaries(
        st.sampled_from(["access_token", "expires_in", "refresh_token", "token_type"]),
        st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=12) | st.floats(allow_nan=True),
    ).map(lambda d: json.dumps(d).encode()),
)


@property_settings(300)
@given(st.sampled_from([200, 200, 400, 401, 500]), token_answers)
# Found by generated answers: a digit int() refuses, more digits than int() reads, past float's range.
@example(200, json.dumps({"access_token": "abc", "expires_in": "\u00b2"}).encode())
@example(200, b'{"access_token": "abc", "expires_in": "' + b"9" * 5000 + b'"}')
@example(200, b'{"access_token": "abc", "expires_in": 1' + b"0" * 400 + b"}")
def test_any_token_endpoint_answer_is_a_token_or_an_auth_error(status, body):
    from equipment_connectors.auth import AuthError, token_from

    try:
        token = token_from(Response("https://auth.example/token", status, body, {}), now=1000.0)
    except AuthError as error:
        assert "token endpoint https://auth.example/token" in str(error)
    else:
        assert status == 200 and token.access_token and math.isfinite(token.expires_at) and token.expires_at >= 1000.0
        assert isinstance(token.refresh_token, str)
