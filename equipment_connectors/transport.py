"""HTTP for the connectors: stdlib only, every request bounded in time, size and redirects.

A maker's feed is outside data from a host we do not run: a request must end, whatever the
server does. Each request has a socket timeout (connect and every read) *and* a deadline for the
whole answer, so a server that drips a byte every few seconds is cut off as surely as one that
never answers. A body is read at most ``max_bytes + 1`` bytes far: a larger one is refused without
being held in memory. Redirects are followed here, not by urllib, at most ``MAX_REDIRECTS`` and
never to a URL already visited, so a loop is named as a loop.
"""

from __future__ import annotations

import functools
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TransportError(Exception):
    """The request did not give an answer: unreachable, too slow (may work later)."""


class RefusedAnswer(TransportError):
    """The answer is one we will not take: too large, a redirect loop, not http(s) (will not improve)."""


@dataclass(frozen=True)
class Response:
    url: str  # the URL that answered (after redirects)
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then returns the 3xx as an HTTPError, which ``request`` follows itself


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirects)


def _read(response: object, url: str, max_bytes: int, deadline: float) -> bytes:
    length = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    if length and length.isdigit() and int(length) > max_bytes:
        raise RefusedAnswer(f"GET {url}: the page is {int(length):,} bytes, over the limit of {max_bytes:,}")
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TransportError(f"GET {url}: the answer did not complete in time")
        # read1: what one receive gives, so a server dripping a byte at a time meets the deadline
        # (read(n) would wait for n bytes, each byte resetting the socket timeout).
        chunk = response.read1(CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise RefusedAnswer(f"GET {url}: the page is over the limit of {max_bytes:,} bytes")
        chunks.append(chunk)


def request(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 30.0,
    max_bytes: int = 1_048_576,
    on_request: object = None,
) -> Response:
    """GET (or POST ``data``) ``url``: an HTTP error status is a ``Response``, not an exception.

    ``on_request`` (a callable) is called once per request sent, redirects included, so a
    request budget counts what the maker saw.
    """
    visited: list[str] = []
    current = url
    method = "POST" if data is not None else "GET"
    while True:
        if urllib.parse.urlsplit(current).scheme not in ("http", "https"):
            raise RefusedAnswer(f"{current!r} is not an http(s) URL")
        if current in visited:
            raise RefusedAnswer(f"{method} {url}: redirect loop ({' -> '.join([*visited, current])})")
        if len(visited) > MAX_REDIRECTS:
            raise RefusedAnswer(f"{method} {url}: more than {MAX_REDIRECTS} redirects")
        visited.append(current)
        if callable(on_request):
            on_request()
        deadline = time.monotonic() + timeout
        http_request = urllib.request.Request(current, data=data, headers=headers or {}, method=method)
        try:
            with _opener().open(http_request, timeout=timeout) as response:
                body = _read(response, current, max_bytes, deadline)
                return Response(current, response.status, body, {k.lower(): v for k, v in response.headers.items()})
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location") if error.headers else None
            if error.code in REDIRECTS and location:
                error.close()
                current = urllib.parse.urljoin(current, location)
                if error.code == 303:
                    method, data = "GET", None
                continue
            try:
                body = _read(error, current, max_bytes, deadline)
            except (TimeoutError, OSError):
                body = b""
            finally:
                error.close()
            headers_out = {k.lower(): v for k, v in (error.headers or {}).items()}
            return Response(current, error.code, body, headers_out)
        except TransportError:
            raise
        except TimeoutError as error:
            raise TransportError(f"{method} {current}: no answer within {timeout:g} s ({error})") from error
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise TransportError(f"{method} {current}: no answer within {timeout:g} s") from error
            raise TransportError(f"{method} {current}: {reason}") from error
        except OSError as error:  # reset connections, HTTP protocol errors (http.client.HTTPException)
            raise TransportError(f"{method} {current}: {type(error).__name__}: {error}") from error
        except Exception as error:  # http.client.HTTPException and its kin: a broken HTTP answer
            raise TransportError(f"{method} {current}: not an HTTP answer: {type(error).__name__}: {error}") from error
