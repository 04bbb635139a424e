"""``manage.py aemp_pull URL`` against our own feed over real HTTP (Django's live server), and
the client's paging rules against the published samples."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from equipment_current.aemp.client import FeedError, pull
from equipment_current.aemp.xml_document import xml_safe
from tests.aemp.conftest import BASE, END, FLEET_SIZE, SERIES_SIZE, START
from tests.properties import property_settings

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
        (b"<Fleet><Equipment><Location><Latitude>NaN</Latitude></Location></Equipment></Fleet>", "NaN"),
        (b"<Fleet><Equipment><EngineStatus><Running>yes</Running></EngineStatus></Equipment></Fleet>", "boolean"),
        (b"<?xml version='1.0' encoding='klingon'?><Fleet/>", "not well-formed"),
    ],
)
def test_unreadable_pages_are_feed_errors(body, message):
    with pytest.raises(FeedError, match=message):
        list(pull("https://oem/Fleet/1", Pages({"https://oem/Fleet/1": body})))


# -- any page an outside server sends: a result or a FeedError, nothing else ----------------------

NAMES = st.sampled_from(["Fleet", "Links", "rel", "href", "Equipment", "Location", "Latitude", "Running", "x"])
TEXT = st.one_of(st.text(max_size=6), st.sampled_from(["next", "1.5", "true", "nan", "1e999", "1_0", "http://h/2"]))


def xml_trees(depth: int = 3) -> st.SearchStrategy[ET.Element]:
    def element(name: str, text: str, attributes: dict, children: list) -> ET.Element:
        node = ET.Element(name, {key: xml_safe(value) for key, value in attributes.items()})
        node.text = xml_safe(text)
        node.extend(children)
        return node

    leaf = st.builds(element, NAMES, TEXT, st.dictionaries(st.sampled_from(["datetime", "version"]), TEXT), st.just([]))
    return st.recursive(
        leaf,
        lambda children: st.builds(element, NAMES, TEXT, st.just({}), st.lists(children, max_size=4)),
        max_leaves=12,
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(NAMES, children, max_size=4),
    max_leaves=12,
)


def read_all(body: bytes, fmt: str) -> list:
    fetch = Pages({"https://oem/Fleet/1": body, "https://oem/Fleet/2": body})
    try:
        return [(page.records(), page.links()) for page in pull("https://oem/Fleet/1", fetch, fmt, max_pages=3)]
    except FeedError:
        return []


@property_settings(max_examples=150)
@given(tree=xml_trees())
def test_any_xml_page_is_read_or_refused(tree):
    read_all(ET.tostring(tree), "xml")


@property_settings(max_examples=100)
@given(body=st.binary(max_size=200))
def test_any_bytes_are_read_or_refused(body):
    read_all(body, "xml")
    read_all(body, "json")


@property_settings(max_examples=150)
@given(document=st.dictionaries(NAMES, JSON_VALUES, max_size=4))
def test_any_json_page_is_read_or_refused(document):
    read_all(json.dumps(document).encode(), "json")
