"""A small ISO 15143-3 (AEMP 2.0) client: reads a feed page by page, following its ``next`` links.

Used by ``manage.py aemp_pull URL`` (docs/AEMP.md, "Reading a feed"). It reads what published
feeds send, not only ours: any namespace (Takeuchi uses its own), extra elements, the
``datetime`` of a reading as an attribute or as a child (Takeuchi), links relative to the page.
A page becomes a dict in the JSON binding (element names as keys, attributes as plain keys, a
child of the root as a list), with the standard's numbers as floats and ``Running`` as a boolean,
so that the XML and the JSON of a feed read the same.

Paging, as the standard and the feeds describe it: a page's ``Links`` carry ``rel`` ``next`` with
the ``href`` of the following page; the last page has none. The walk also stops at a ``next`` it
has already read (Takeuchi's one-page answer points every link at itself), and gives up after
``max_pages`` pages rather than loop on a feed that never ends. Stdlib only: ``fetch`` does the
HTTP, so a test can count requests.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MEDIA_TYPES = {"xml": "application/xml", "json": "application/json"}
# Elements whose text is a decimal in the standard (converted to float) or a boolean.
NUMBERS = frozenset(
    {
        "Latitude",
        "Longitude",
        "Altitude",
        "Hour",
        "Odometer",
        "FuelConsumed",
        "Percent",
        "FuelTankCapacity",
        "DEFTankCapacity",
        "Count",
        "Payload",
    }
)
BOOLEANS = frozenset({"Running"})
ATTRIBUTES_AS_CHILDREN = frozenset({"datetime"})  # Takeuchi's <datetime> child, read as the attribute
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")  # xs:decimal, or xs:double without INF/NaN


class FeedError(Exception):
    """The feed cannot be read: an HTTP error, a body that is not an AEMP document, no end."""


@dataclass(frozen=True)
class Page:
    url: str
    root: str | None  # the root element (XML only; JSON has no root name)
    document: dict[str, Any]

    def links(self) -> dict[str, str]:
        """``rel`` -> ``href`` of the page's ``Links`` (the first of each relation)."""
        found: dict[str, str] = {}
        links = self.document.get("Links")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and isinstance(link.get("rel"), str) and isinstance(link.get("href"), str):
                found.setdefault(link["rel"], link["href"])
        return found

    def records(self) -> list[tuple[str, dict]]:
        """The page's records, ``(element, value)``: every ``Equipment`` of a fleet, every item of a
        time series (whatever its name); ``Links`` and the root's attributes are not records."""
        return [
            (key, item)
            for key, value in self.document.items()
            if key != "Links" and isinstance(value, list)
            for item in value
            if isinstance(item, dict)
        ]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _scalar(name: str, text: str | None) -> Any:
    text = (text or "").strip()
    if name in NUMBERS:
        number = float(text) if _DECIMAL.fullmatch(text) else math.nan
        if not math.isfinite(number):
            raise FeedError(f"{name}: {text!r} is not a number")
        return number
    if name in BOOLEANS:
        if text not in ("true", "false", "1", "0"):
            raise FeedError(f"{name}: {text!r} is not a boolean")
        return text in ("true", "1")
    return text


def _value(element: ET.Element) -> Any:
    name = _local(element.tag)
    if not len(element) and not element.attrib:
        return _scalar(name, element.text)
    value: dict[str, Any] = {_local(key): text for key, text in element.attrib.items() if not key.startswith("{")}
    for child in element:
        key = _local(child.tag)
        if key in ATTRIBUTES_AS_CHILDREN and not len(child):
            value.setdefault(key, (child.text or "").strip())
        elif key in value:  # a repeated element deeper than the root's children
            previous = value[key]
            value[key] = [*previous, _value(child)] if isinstance(previous, list) else [previous, _value(child)]
        else:
            value[key] = _value(child)
    return value


def parse_xml(body: bytes) -> tuple[str, dict[str, Any]]:
    """An AEMP XML page as ``(root element, JSON-binding dict)``; namespaces are ignored."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise FeedError("the document declares a DOCTYPE or entities, which no AEMP feed needs")
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, LookupError, ValueError) as error:  # LookupError: an unknown declared encoding
        raise FeedError(f"not well-formed XML: {error}") from error
    document: dict[str, Any] = {_local(key): text for key, text in root.attrib.items() if not key.startswith("{")}
    for child in root:
        document.setdefault(_local(child.tag), []).append(_value(child))
    return _local(root.tag), document


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise FeedError(f"not JSON: {error}") from error
    if not isinstance(document, dict):
        raise FeedError("the JSON document is not an object")
    return document


Fetch = Callable[[str, dict[str, str]], tuple[int, bytes]]


def urllib_fetch(timeout: float) -> Fetch:
    """GET with urllib: ``(status, body)``; an HTTP error status is returned, not raised."""

    def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(url, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise FeedError(f"GET {url}: {error}") from error

    return fetch


def check_url(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FeedError(f"{url!r} is not an http(s) URL")
    return url


def pull(
    url: str, fetch: Fetch, fmt: str = "xml", headers: dict[str, str] | None = None, max_pages: int = 10_000
) -> Iterator[Page]:
    """Every page of the feed at ``url``, first to last, following ``next``."""
    if fmt not in MEDIA_TYPES:
        raise FeedError(f"format must be one of {sorted(MEDIA_TYPES)}")
    request_headers = {**(headers or {}), "Accept": MEDIA_TYPES[fmt]}
    visited: set[str] = set()
    current = check_url(url)
    while True:
        if len(visited) >= max_pages:
            raise FeedError(f"still a next page after {max_pages} pages; stopped at {current}")
        visited.add(current)
        status, body = fetch(current, request_headers)
        if status != 200:
            excerpt = " ".join(body[:300].decode("utf-8", "replace").split())
            raise FeedError(f"GET {current}: HTTP {status}: {excerpt}")
        if fmt == "xml":
            root, document = parse_xml(body)
            page = Page(current, root, document)
        else:
            page = Page(current, None, parse_json(body))
        yield page
        following = page.links().get("next")
        if following is None:
            return
        current = check_url(urllib.parse.urljoin(current, following))
        if current in visited:
            return
