"""The archive stand-in of the history tests: the documented archive contract on a real HTTP socket.

``ArchiveStandIn`` answers from an in-memory dict; ``mode`` turns it into a failing archive.
``serve_archive`` runs it on a ``ThreadingHTTPServer`` at 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

RETENTION_DAYS = 2
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 0.5


@dataclass
class ArchiveStandIn:
    url: str = ""
    mode: str = "normal"  # normal | newest-first | error | slow | malformed | off-contract
    positions: dict[str, list[dict]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    served: list[dict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        identifier = unquote(path.removeprefix("/positions/"))
        start, end, limit = int(query["from"][0]), int(query["to"][0]), int(query["limit"][0])
        self.requests.append({"identifier": identifier, "from": start, "to": end, "limit": limit})
        if self.mode == "error":
            return 500, b'{"error": "archive exploded"}'
        if self.mode == "slow":
            self.release.wait(10)  # far past the client's read timeout; released at teardown
        if self.mode == "malformed":
            return 200, b'{"positions": [{"timestamp": 17'
        if self.mode == "off-contract":
            return 200, json.dumps({"positions": [{"timestamp": "yesterday", "lat": 1}]}).encode()
        found = sorted(
            (p for p in self.positions.get(identifier, []) if start <= p["timestamp"] < end),
            key=lambda p: p["timestamp"],
        )
        # "newest-first" is a sloppy archive: wrong order, no limit. Otherwise, the contract.
        found = found[::-1] if self.mode == "newest-first" else found[:limit]
        self.served.extend(found)
        return 200, json.dumps({"positions": found}).encode()


def _handler_for(stand_in: ArchiveStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if not url.path.startswith("/positions/"):
                status, body = 404, b"{}"
            else:
                status, body = stand_in.answer(url.path, parse_qs(url.query))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (read timeout) before the slow answer came

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_archive() -> Iterator[ArchiveStandIn]:
    stand_in = ArchiveStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A URL on which nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
