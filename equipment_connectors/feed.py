"""One walk over a maker's fleet snapshot, page by page. Stdlib only (HTTP through ``transport``).

The pages are parsed by ``equipment_current.aemp.client`` (the reader of ``aemp_pull``), so the
connectors read what it reads: any namespace, Takeuchi's ``<datetime>`` child, JSON or XML.

Paging rules (docs/CONNECTORS.md):
- follow ``next`` until it is absent, already read (Takeuchi links every relation of a one-page
  answer to page 0: one request), or answers 404 (a last page that still advertises a next one);
  a 404 on the first page is an error;
- a ``next`` on another host or scheme is refused: the connector's credentials go to its maker only;
- 429 and 5xx suspend the walk (``Suspended``): the runner retries the same page after the wait
  (at least 60 s on 429, ``Retry-After`` when longer) while it polls the other connectors; the
  pages already read stay published;
- a 401 renews the token once and retries; a second 401 is an error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from equipment_connectors.auth import AuthError, Authorizer
from equipment_connectors.transport import RefusedAnswer, Response, TransportError
from equipment_current.aemp.client import MEDIA_TYPES, FeedError, Page, parse_json, parse_xml

MIN_429_WAIT = 60.0
FIRST_5XX_WAIT = 30.0
MAX_WAIT = 3600.0


class ConnectorError(Exception):
    """The poll failed; the message says why, for the health endpoint and the logs."""


class Suspended(Exception):
    """The maker asked us to wait (429) or failed for now (5xx, no answer): retry ``url`` later."""

    def __init__(self, message: str, url: str, wait: float) -> None:
        super().__init__(message)
        self.url = url
        self.wait = wait


class BudgetExhausted(ConnectorError):
    pass


@dataclass
class Budget:
    limit: int
    used: int

    def spend(self) -> None:
        if self.used >= self.limit:
            raise BudgetExhausted(f"request budget of {self.limit} requests a day is used up")
        self.used += 1


@dataclass
class WalkState:
    url: str
    visited: list[str] = field(default_factory=list)
    pages: int = 0
    failures: int = 0  # consecutive 429/5xx/no-answer of this walk, for the backoff


def retry_after(value: str | None, now: float) -> float:
    """Seconds of a ``Retry-After`` header (seconds or an HTTP date); 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def backoff(status: int | None, failures: int, header_wait: float) -> float:
    """The wait before retrying: 429 at least 60 s (or Retry-After), 5xx and no answer doubling
    from 30 s; never above an hour."""
    if status == 429:
        return min(MAX_WAIT, max(MIN_429_WAIT, header_wait))
    return min(MAX_WAIT, max(header_wait, FIRST_5XX_WAIT * 2 ** max(0, failures - 1)))


def same_origin(url: str, origin: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


class FeedWalk:
    """Reads the pages of one connector's fleet snapshot from ``state.url`` on."""

    def __init__(
        self,
        state: WalkState,
        *,
        fmt: str,
        authorizer: Authorizer,
        get: Callable[[str, dict[str, str]], Response],
        budget: Budget,
        clock: Callable[[], float],
        max_pages: int = 1000,
    ) -> None:
        if fmt not in MEDIA_TYPES:
            raise ConnectorError(f"format must be one of {sorted(MEDIA_TYPES)}")
        self.state = state
        self.fmt = fmt
        self.authorizer = authorizer
        self.get = get
        self.budget = budget
        self.clock = clock
        self.max_pages = max_pages
        self.origin = state.url
        self.done = False  # the last page has been yielded

    def fetch(self, url: str) -> Response:
        headers = {"Accept": MEDIA_TYPES[self.fmt]}
        try:
            headers.update(self.authorizer.header())
            self.budget.spend()
            response = self.get(url, headers)
            if response.status == 401 and self.authorizer.credentials.kind != "none":
                headers.update(self.authorizer.header(force_renew=True))
                self.budget.spend()
                response = self.get(url, headers)
        except AuthError as error:
            raise ConnectorError(str(error)) from error
        except RefusedAnswer as error:
            raise ConnectorError(str(error)) from error
        except TransportError as error:
            self.state.failures += 1
            raise Suspended(str(error), url, backoff(None, self.state.failures, 0.0)) from error
        if response.status == 429 or response.status >= 500:
            self.state.failures += 1
            wait = backoff(
                response.status, self.state.failures, retry_after(response.headers.get("retry-after"), self.clock())
            )
            raise Suspended(f"GET {url}: HTTP {response.status}; retrying in {wait:g} s", url, wait)
        self.state.failures = 0
        return response

    def pages(self) -> Iterator[Page]:
        """Each page in order; ``state`` always names the next page to read, so a ``Suspended``
        walk resumes where it stopped."""
        while True:
            url = self.state.url
            if len(self.state.visited) >= self.max_pages:
                raise ConnectorError(f"still a next page after {self.max_pages} pages; stopped at {url}")
            response = self.fetch(url)
            if response.status == 404 and self.state.visited:
                return  # a next link to a page that does not exist: the walk is complete
            if response.status != 200:
                excerpt = " ".join(response.body[:200].decode("utf-8", "replace").split())
                raise ConnectorError(f"GET {url}: HTTP {response.status}: {excerpt}")
            try:
                if self.fmt == "xml":
                    root, document = parse_xml(response.body)
                    page = Page(url, root, document)
                else:
                    page = Page(url, None, parse_json(response.body))
            except FeedError as error:
                raise ConnectorError(f"GET {url}: {error}") from error
            if not is_fleet(page):
                raise ConnectorError(f"GET {url}: a {page.root or 'JSON'} document, not a Fleet snapshot")
            self.state.visited.append(url)
            following = page.links().get("next")
            next_url = urllib.parse.urljoin(url, following) if following else None
            if next_url is not None and not same_origin(next_url, self.origin):
                raise ConnectorError(f"GET {url}: next link {next_url} leaves {self.origin}'s host; refused")
            done = next_url is None or next_url in self.state.visited
            self.done = done
            self.state.url = url if done else next_url
            self.state.pages += 1
            yield page
            if done:
                return


def is_fleet(page: Page) -> bool:
    """A ``Fleet`` root (XML), or in JSON an object with an ``Equipment`` list or ``Links``."""
    if page.root is not None:
        return page.root == "Fleet"
    equipment = page.document.get("Equipment", [])
    return isinstance(equipment, list) and ("Equipment" in page.document or "Links" in page.document)


def equipment_of(page: Page) -> list[dict]:
    """The ``Equipment`` records of a fleet page."""
    return [value for element, value in page.records() if element == "Equipment"]
