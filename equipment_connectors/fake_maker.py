"""A simulated maker's ISO 15143-3 feed on 127.0.0.1, for ``make run`` and the tests.

The pages are written in the shape of the published samples (tests/aemp/samples, docs/AEMP.md):
Trackunit's ``<Fleet xmlns="http://standards.iso.org/iso/15143/-3">`` with ``Links`` (``rel`` and
``href`` children) before the ``Equipment``, ``datetime`` attributes, ``OdometerUnits`` and
``FuelUnits`` elements; ``takeuchi=True`` gives Takeuchi's one-page answer (pages from 0, every
link pointing at page 0, ``CumulativeOperatingHours`` with a ``<datetime>`` child).

It serves an OAuth2 token endpoint (``POST /token``: client credentials, refresh token and
password grants, tokens expiring after ``token_seconds``) and accepts HTTP Basic, and can
misbehave on request (``faults``): 429 or 500 once on a page, garbage, an oversized page, a
redirect loop, a socket that never answers. It counts what it was asked (``requests``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

NAMESPACE = "http://standards.iso.org/iso/15143/-3"


@dataclass
class FakeMachine:
    pin: str
    equipment_id: str
    serial: str = ""
    oem: str = "Komatsu"
    model: str = "PC210LC-11"
    # element -> (datetime, {child: value}); children in the order written
    elements: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def simulated_fleet(count: int, at: str = "2026-01-05T10:00:00Z") -> list[FakeMachine]:
    """``count`` machines reporting hours, a position, miles and US gallons at ``at``."""
    return [
        FakeMachine(
            pin=f"KMT0PC21C{i:08d}",
            equipment_id=f"KMT-{i:05d}",
            serial=f"C{i:08d}",
            elements={
                "Location": (at, {"Latitude": 45.0 + i / 1000, "Longitude": 9.0 + i / 1000}),
                "CumulativeOperatingHours": (at, {"Hour": 1000.0 + i}),
                "Distance": (at, {"OdometerUnits": "mile", "Odometer": 100.0 + i}),
                "EngineStatus": (at, {"EngineNumber": "N/A", "Running": "true"}),
                "FuelUsed": (at, {"FuelUnits": "US gallon", "FuelConsumed": 10.0 + i}),
                "FuelRemaining": (at, {"Percent": 50.0}),
            },
        )
        for i in range(count)
    ]


def _equipment_xml(machine: FakeMachine, takeuchi: bool) -> str:
    header = (
        f"<EquipmentHeader><OEMName>{escape(machine.oem)}</OEMName><Model>{escape(machine.model)}</Model>"
        f"<EquipmentID>{escape(machine.equipment_id)}</EquipmentID>"
        + (f"<SerialNumber>{escape(machine.serial)}</SerialNumber>" if machine.serial else "")
        + (f"<PIN>{escape(machine.pin)}</PIN>" if machine.pin else "")
        + "</EquipmentHeader>"
    )
    parts = [header]
    for element, (at, children) in machine.elements.items():
        body = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in children.items())
        if takeuchi and element == "CumulativeOperatingHours":
            parts.append(f"<{element}>{body}<datetime>{at}</datetime></{element}>")
        else:
            parts.append(f'<{element} datetime="{at}">{body}</{element}>')
    return "<Equipment>" + "".join(parts) + "</Equipment>"


class FakeMaker:
    def __init__(
        self,
        machines: list[FakeMachine],
        *,
        page_size: int = 100,
        first_page: int = 1,
        takeuchi: bool = False,
        token_seconds: float = 3600.0,
        client_id: str = "c40",
        client_secret: str = "s3cret",
        refresh_token: str = "refresh-1",
        username: str = "fleet",
        password: str = "p4ss",
        auth: str = "oauth2",  # oauth2, basic, none
    ) -> None:
        self.machines = machines
        self.page_size = page_size
        self.first_page = 0 if takeuchi else first_page
        self.takeuchi = takeuchi
        self.token_seconds = token_seconds
        self.client = (client_id, client_secret)
        self.refresh_token = refresh_token
        self.user = (username, password)
        self.auth = auth
        self.tokens: dict[str, float] = {}
        self.faults: dict[str, Any] = {}  # e.g. {"429": {2}, "500": {2}, "garbage": True, ...}
        self.requests: list[str] = []  # paths of GETs
        self.token_requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.release = threading.Event()  # ends a "hang"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeMaker:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-maker", daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/aemp/v2/15143/-3"

    # -- pages -----------------------------------------------------------------------------------

    def last_page(self) -> int:
        pages = max(1, -(-len(self.machines) // self.page_size))
        return self.first_page + pages - 1

    def page_xml(self, number: int) -> bytes:
        href = lambda n: f"{self.base_url}/Fleet/{n}"  # noqa: E731
        if self.takeuchi:
            links = [(rel, href(0)) for rel in ("self", "prev", "next", "last")]
        else:
            links = [("self", href(number))]
            if number > self.first_page:
                links.append(("prev", href(number - 1)))
            if number < self.last_page():
                links.append(("next", href(number + 1)))
            links.append(("last", href(self.last_page())))
        start = (number - self.first_page) * self.page_size
        chosen = self.machines if self.takeuchi else self.machines[start : start + self.page_size]
        body = "".join(f"<Links><rel>{rel}</rel><href>{escape(h)}</href></Links>" for rel, h in links)
        body += "".join(_equipment_xml(machine, self.takeuchi) for machine in chosen)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Fleet xmlns="{NAMESPACE}" version="0">{body}</Fleet>'.encode()

    def issue_token(self, form: dict[str, str], basic_auth: tuple[str, str] | None) -> dict[str, Any] | None:
        client = basic_auth or (form.get("client_id", ""), form.get("client_secret", ""))
        grant = form.get("grant_type")
        ok = client == self.client and (
            grant == "client_credentials"
            or (grant == "refresh_token" and form.get("refresh_token") == self.refresh_token)
            or (grant == "password" and (form.get("username"), form.get("password")) == self.user)
        )
        if not ok:
            return None
        token = secrets.token_hex(8)
        with self._lock:
            self.tokens[token] = time.time() + self.token_seconds
            answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}
            if grant == "refresh_token":  # rotate, as many servers do
                self.refresh_token = answer["refresh_token"] = secrets.token_hex(8)
        return answer

    def authorized(self, header: str) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "basic":
            return header == "Basic " + base64.b64encode(":".join(self.user).encode()).decode()
        token = header.removeprefix("Bearer ")
        with self._lock:
            return header.startswith("Bearer ") and self.tokens.get(token, 0) > time.time()


def _handler(maker: FakeMaker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, content_type: str = "application/xml", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            maker.token_requests.append(form)
            basic_auth = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                basic_auth = (user, password)
            answer = maker.issue_token(form, basic_auth)
            if answer is None:
                self.send(401, b'{"error":"invalid_client"}', "application/json")
            else:
                self.send(200, json.dumps(answer).encode(), "application/json")

        def do_GET(self) -> None:
            maker.requests.append(self.path)
            faults = maker.faults
            if faults.get("hang"):
                maker.release.wait(60)
                return
            if faults.get("drip"):  # a page that never completes, a byte at a time
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(200):
                    if maker.release.wait(0.2):
                        return
                    self.wfile.write(b" ")
                    self.wfile.flush()
                return
            if faults.get("redirect_loop"):
                self.send(302, b"", Location="/loop/a" if self.path != "/loop/a" else "/loop/b")
                return
            if faults.get("garbage"):
                self.send(200, b"\x00\xffthis is not a feed <html><body>502 Bad Gateway", "text/html")
                return
            if not maker.authorized(self.headers.get("Authorization", "")):
                self.send(401, b"<error>unauthorized</error>")
                return
            prefix = urllib.parse.urlsplit(maker.base_url).path + "/Fleet/"
            tail = self.path.removeprefix(prefix)
            if not self.path.startswith(prefix) or not tail.isdigit():
                self.send(404, b"<error>not found</error>")
                return
            number = int(tail)
            if number in faults.get("hang_pages", ()):
                maker.release.wait(60)
                return
            for status in ("429", "500", "404"):
                pending = faults.get(status, set())
                if number in pending:
                    pending.discard(number)  # once
                    extra = {"Retry_After": str(faults["retry_after"])} if "retry_after" in faults else {}
                    self.send(int(status), b"<error>slow down</error>", **extra)
                    return
            if faults.get("oversize"):
                self.send(200, maker.page_xml(number) + b"<!--" + b"x" * faults["oversize"] + b"-->")
                return
            if not maker.first_page <= number <= maker.last_page():
                self.send(404, b"<error>no such page</error>")
                return
            self.send(200, maker.page_xml(number))

    return Handler
