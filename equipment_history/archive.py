"""Client of the archive service, which holds positions older than the hot retention window.

The contract (docs/HISTORY.md, "Archive contract") is deliberately small so that an operator can
put any archive behind it::

    GET {url}/positions/{identifier}?from=<ms>&to=<ms>&limit=<n>
    200 {"positions": [{"timestamp": <ms>, "latitude": .., "longitude": .., "address": ..,
                        "points_of_interest": [..], "base": ..}, ...]}   oldest first

Every failure — refused connection, timeout, non-200 status, body that is not the documented
JSON — becomes ``ArchiveUnavailable`` with a reason, which the API reports beside the hot part.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests

from equipment_history.business import MalformedArchiveAnswer, Position, parse_archive_positions

logger = logging.getLogger("telemetry.history.archive")


class ArchiveUnavailable(Exception):
    """The archive did not give a usable answer; ``str(exc)`` is the reason shown to API clients."""


class HttpArchiveClient:
    """Reads archived positions over HTTP with ``requests``, within a connect and a read timeout."""

    def __init__(self, url: str = "", connect_timeout: float = 2.0, read_timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def positions(self, identifier: str, start: int, end: int, limit: int) -> list[Position]:
        """Up to ``limit`` archived positions of ``identifier`` with ``start <= timestamp < end``."""
        if not self.configured:
            raise ArchiveUnavailable("no archive is configured (HISTORY_ARCHIVE_URL is empty)")
        url = f"{self.url}/positions/{quote(identifier, safe='')}"
        try:
            # A fresh connection per call: the client is shared by the web server's threads, and
            # requests.Session is not documented as thread-safe.
            response = requests.get(
                url,
                params={"from": start, "to": end, "limit": limit},
                headers={"Accept": "application/json"},
                timeout=(self.connect_timeout, self.read_timeout),
            )
        except requests.Timeout as exc:
            raise self._unavailable(
                f"timed out (connect {self.connect_timeout}s, read {self.read_timeout}s)", exc
            ) from exc
        except requests.RequestException as exc:
            raise self._unavailable(f"unreachable ({type(exc).__name__})", exc) from exc
        if response.status_code != 200:
            raise self._unavailable(f"answered HTTP {response.status_code}", None)
        try:
            payload = response.json()
        except ValueError as exc:
            raise self._unavailable("answered a body that is not JSON", exc) from exc
        try:
            positions = parse_archive_positions(identifier, payload, start, end)
        except MalformedArchiveAnswer as exc:
            raise self._unavailable(f"answered off-contract JSON: {exc}", exc) from exc
        # Sorted before cutting, so an archive that ignores the order or the limit loses nothing.
        return sorted(positions, key=lambda p: p.timestamp)[:limit]

    def _unavailable(self, reason: str, cause: BaseException | None) -> ArchiveUnavailable:
        logger.warning("archive %s %s: %r", self.url, reason, cause)
        return ArchiveUnavailable(f"archive {reason}")
