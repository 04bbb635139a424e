"""Authorization of a connector's requests: OAuth2 (client credentials, refresh token, password
grant) and HTTP Basic. Stdlib only; the token endpoint is called through ``transport.request``.

An OAuth2 access token is renewed ``RENEW_BEFORE_SECONDS`` before it expires (or when the feed
answers 401 to it), so a long walk over a fleet does not fail half-way. A token endpoint that
rotates the refresh token returns a new one: it replaces the stored one (``Token.refresh_token``).
The client authenticates to the token endpoint with HTTP Basic (RFC 6749 2.3.1, which every
server must accept) and, for servers that read only the body, with ``client_id`` in the form too.
"""

from __future__ import annotations

import base64
import json
import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from equipment_connectors.transport import Response

BASIC = "http_basic"
CLIENT_CREDENTIALS = "oauth2_client_credentials"
REFRESH_TOKEN = "oauth2_refresh_token"
PASSWORD = "oauth2_password"
NONE = "none"
OAUTH2 = frozenset({CLIENT_CREDENTIALS, REFRESH_TOKEN, PASSWORD})
RENEW_BEFORE_SECONDS = 60.0
DEFAULT_EXPIRES_IN = 3600.0  # a token response without expires_in
# Longer lifetimes are taken as this (a year): the token is renewed then at the latest.
MAX_EXPIRES_IN = 365 * 86_400
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token


class AuthError(Exception):
    """No usable credentials: the token endpoint refused them or answered nonsense."""


@dataclass(frozen=True)
class Credentials:
    kind: str
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    scope: str = ""


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str = ""  # a rotated refresh token, to store in place of the old one

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - RENEW_BEFORE_SECONDS


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def token_request(credentials: Credentials) -> tuple[bytes, dict[str, str]]:
    """The form and headers of the token request for ``credentials``."""
    form = {"grant_type": "client_credentials"}
    if credentials.kind == REFRESH_TOKEN:
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
    elif credentials.kind == PASSWORD:
        form = {"grant_type": "password", "username": credentials.username, "password": credentials.password}
    if credentials.scope:
        form["scope"] = credentials.scope
    if credentials.client_id:
        form["client_id"] = credentials.client_id
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if credentials.client_id:
        headers["Authorization"] = basic(credentials.client_id, credentials.client_secret)
    return urllib.parse.urlencode(form).encode(), headers


def token_from(response: Response, now: float) -> Token:
    """The token of a token endpoint's answer, or an ``AuthError`` saying what was wrong."""
    if response.status != 200:
        excerpt = " ".join(response.body[:200].decode("utf-8", "replace").split())
        raise AuthError(f"token endpoint {response.url}: HTTP {response.status}: {excerpt}")
    try:
        answer = json.loads(response.body)
    except ValueError as error:
        raise AuthError(f"token endpoint {response.url}: not JSON: {error}") from error
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise AuthError(f"token endpoint {response.url}: no access_token in the answer")
    if not B64TOKEN.fullmatch(answer["access_token"]):  # it goes into a header: no spaces, no line breaks
        raise AuthError(f"token endpoint {response.url}: the access_token is not a bearer token (RFC 6750)")
    expires_in = answer.get("expires_in", DEFAULT_EXPIRES_IN)
    # isdigit() alone admits "²" (int() refuses it) and 5,000 digits (int() refuses those too).
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit() and len(expires_in) <= 12:
        expires_in = int(expires_in)
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > MAX_EXPIRES_IN:
        expires_in = MAX_EXPIRES_IN  # a JSON integer past float's range would overflow below
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, (int, float))
        or not math.isfinite(expires_in)
        or expires_in <= 0
    ):
        expires_in = DEFAULT_EXPIRES_IN
    refresh = answer.get("refresh_token") if isinstance(answer.get("refresh_token"), str) else ""
    return Token(answer["access_token"], now + float(expires_in), refresh)


class Authorizer:
    """The ``Authorization`` header of a connector's requests, renewing its token as needed."""

    def __init__(
        self,
        credentials: Credentials,
        token: Token | None,
        post: Callable[[str, bytes, dict[str, str]], Response],
        clock: Callable[[], float],
    ) -> None:
        self.credentials = credentials
        self.token = token
        self.post = post
        self.clock = clock
        self.renewed = False  # a new token (or refresh token) to persist

    def header(self, force_renew: bool = False) -> dict[str, str]:
        kind = self.credentials.kind
        if kind == BASIC:
            return {"Authorization": basic(self.credentials.username, self.credentials.password)}
        if kind not in OAUTH2:
            return {}
        now = self.clock()
        if force_renew or self.token is None or not self.token.fresh(now):
            self.renew(now)
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token.access_token}"}

    def renew(self, now: float) -> None:
        if not self.credentials.token_url:
            raise AuthError("the connector has no token URL for its OAuth2 grant")
        body, headers = token_request(self.credentials)
        token = token_from(self.post(self.credentials.token_url, body, headers), now)
        if token.refresh_token and self.credentials.kind == REFRESH_TOKEN:
            self.credentials = Credentials(**{**self.credentials.__dict__, "refresh_token": token.refresh_token})
        self.token = token
        self.renewed = True
