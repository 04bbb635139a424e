"""``manage.py aemp_pull URL`` against our own feed over real HTTP (Django's live server), and
the client's paging rules against the published samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from equipment_current.aemp.client import FeedError, pull
from tests.aemp.conftest import BASE, END, FLEET_SIZE, SERIES_SIZE, START

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def token(transactional_db):
    return Token.objects.create(user=User.objects.create_user("aemp-puller")).key


def pulled(url: str, *options: str, tmp_path: Path) -> list[dict]:
    output = tmp_path / "pulled.jsonl"
    call_command("aemp_pull", url, "--output", str(output), *options)
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


def api_pages(api_client, path: str, key: str, pages: int) -> list[dict]:
    return [{key: item} for page in range(1, pages + 1) for item in api_client.get(f"{path}/{page}").json()[key]]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_pulling_our_fleet_gives_back_the_api_state(live_server, boundary_feed, token, api_client, tmp_path, fmt):
    records = pulled(f"{live_server.url}{BASE}/Fleet/1", "--token", token, "--format", fmt, tmp_path=tmp_path)
    assert records == api_pages(api_client, f"{BASE}/Fleet", "Equipment", 3)
    assert [record["Equipment"]["EquipmentHeader"]["EquipmentID"] for record in records] == [
        f"M{i:03d}" for i in range(FLEET_SIZE)
    ]
    assert records[5]["Equipment"]["Distance"]["Odometer"] == 5000.0 + 5 / 8  # the stored value


def test_pulling_a_time_series_follows_next_to_the_last_page(live_server, boundary_feed, token, api_client, tmp_path):
    path = f"{BASE}/Fleet/Equipment/ID/M000/Locations/{START}/{END}"
    records = pulled(f"{live_server.url}{path}/1", "--token", token, tmp_path=tmp_path)
    assert len(records) == SERIES_SIZE
    assert records == api_pages(api_client, path, "Location", 2)
    assert records[-1] == {"Location": {"datetime": "2025-11-24T17:40:00Z", "Latitude": 45.1, "Longitude": 9.0}}


def test_pulling_without_credentials_says_so(live_server, boundary_feed, transactional_db, tmp_path):
    with pytest.raises(CommandError, match=r"HTTP 401.*after 0 pages; a 401 needs --token"):
        pulled(f"{live_server.url}{BASE}/Fleet/1", tmp_path=tmp_path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ftp://host/Fleet/1"], "is not an http"),
        (["http://127.0.0.1:9/Fleet/1", "--header", "no colon"], "expected 'Name: value'"),
        (["http://127.0.0.1:9/Fleet/1", "--max-pages", "0"], "at least 1"),
    ],
)
def test_bad_arguments_are_command_errors(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("aemp_pull", *arguments)


# -- the client's paging rules, on published pages (a fake fetch: no server involved) ------------


class Pages:
    """Serves fixed bodies by URL and records what was asked."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.asked: list[tuple[str, dict]] = []

    def __call__(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        self.asked.append((url, headers))
        return (200, self.bodies[url]) if url in self.bodies else (404, b'{"detail": "Not found."}')


def test_a_next_link_back_to_a_page_already_read_ends_the_walk():
    """Takeuchi's one-page fleet points self, prev, next and last at the same page."""
    url = "https://api20.takeuchi-us.com/Telematics/Fleet/0"
    fetch = Pages({url: (SAMPLES / "takeuchi_tfm_fleet.xml").read_bytes()})
    pages = list(pull(url, fetch))
    assert [page.root for page in pages] == ["Fleet"]
    assert len(fetch.asked) == 1
    assert fetch.asked[0][1] == {"Accept": "application/xml"}
    (_, takeuchi), *_ = pages[0].records()[1:]
    assert takeuchi["CumulativeOperatingHours"] == {"Hour": 233.7, "datetime": "2021-05-20T11:08:34Z"}
    assert takeuchi["EngineStatus"] == {"datetime": "2021-05-20T10:37:57Z", "EngineNumber": "", "Running": True}


def test_relative_next_links_are_resolved_and_the_page_limit_holds():
    page = b'<Fleet version="1"><Links><rel>next</rel><href>%d</href></Links></Fleet>'
    fetch = Pages({f"https://oem/Fleet/{n}": page % (n + 1) for n in range(1, 7)})
    with pytest.raises(FeedError, match="still a next page after 5 pages"):
        list(pull("https://oem/Fleet/1", fetch, max_pages=5))
    assert [url for url, _ in fetch.asked] == [f"https://oem/Fleet/{n}" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "b">]><Fleet/>', "DOCTYPE"),
        (b"<Fleet>", "not well-formed"),
        (b'<Fleet version="1"><Equipment><Location><Latitude>north</Latitude></Location></Equipment></Fleet>', "north"),
    ],
)
def test_unreadable_pages_are_feed_errors(body, message):
    with pytest.raises(FeedError, match=message):
        list(pull("https://oem/Fleet/1", Pages({"https://oem/Fleet/1": body})))
