"""JSON, GeoJSON and CSV are well-formed for anything stored: the standard parsers (json, csv)
accept every document, whatever characters or numbers the stored values hold.

Validation refuses NUL, control characters and lone surrogates at the consumer's door; documents
stored before those rules may hold them, so the renderers promise the same on their own
(docs/RELIABILITY.md, "Bad input").
"""

from __future__ import annotations

import csv
import io
import json
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equipment_history.business import Position
from equipment_history.renderers import CSV_COLUMNS, CSVRenderer, GeoJSONRenderer
from telemetry_site import backends
from telemetry_site.renderers import JSONRenderer, well_formed
from tests.properties import property_settings
from tests.reliability.support import use_fresh_database

ANY_CHARACTER = st.characters(codec=None, categories=None)
NASTY = [
    "\x00",
    "\x1f",
    "\x7f",
    "\ud800",
    "\udfff",
    "]]>",
    '"',
    "'",
    "\r\n",
    "\n",
    ",",
    ";",
    "\u2028",
    "\ufeff",
    "\U0001d7d7",
]
ANY_TEXT = st.text(ANY_CHARACTER, max_size=20) | st.lists(st.sampled_from(NASTY), max_size=6).map("".join)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | ANY_FLOAT | ANY_TEXT
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=20,
)
SURROGATE = range(0xD800, 0xE000)


def refuse_constant(name: str) -> None:
    raise AssertionError(f"{name} is no JSON number")


def parse_json(body: bytes):
    # Strict UTF-8 and RFC 8259 numbers (Python's json would accept NaN and Infinity otherwise).
    return json.loads(body.decode("utf-8"), parse_constant=refuse_constant)


def replaced(text: str) -> str:
    return "".join("\ufffd" if ord(c) in SURROGATE else c for c in text)


@property_settings(200, deadline=None)
@given(data=JSON_LIKE)
def test_json_is_well_formed_for_any_value_and_loses_only_what_json_cannot_hold(data):
    # Wrapped: DRF renders a bare None as an empty body (a 204's).
    parsed = parse_json(JSONRenderer().render({"value": data}))["value"]
    assert parsed == well_formed(data)
    if isinstance(data, str):
        assert parsed == replaced(data)
    if isinstance(data, float):
        assert parsed == (data if math.isfinite(data) else None)


POSITION = st.fixed_dictionaries(
    {
        "identifier": ANY_TEXT,
        "timestamp": ANY_TEXT,
        "latitude": ANY_FLOAT | st.none(),
        "longitude": ANY_FLOAT | st.none(),
        "address": ANY_TEXT | st.none(),
        "points_of_interest": st.lists(ANY_TEXT, max_size=3),
        "base": ANY_TEXT | st.none(),
    }
)
PAGE = st.fixed_dictionaries({"identifier": ANY_TEXT, "next": ANY_TEXT | st.none(), "results": st.lists(POSITION)})


def finite_pair(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


@property_settings(100, deadline=None)
@given(page=PAGE)
def test_geojson_is_a_valid_feature_collection_for_any_stored_position(page):
    document = parse_json(GeoJSONRenderer().render(page))
    assert document["type"] == "FeatureCollection"
    features = document["features"]
    points = [f for f in features if f["properties"]["kind"] == "position"]
    assert len(points) == len(page["results"])
    located = 0
    for feature, position in zip(points, page["results"], strict=True):
        assert feature["type"] == "Feature"
        geometry = feature["geometry"]
        finite = all(isinstance(v, float) and math.isfinite(v) for v in (position["latitude"], position["longitude"]))
        if finite:
            located += 1
            assert geometry == {"type": "Point", "coordinates": [position["longitude"], position["latitude"]]}
        else:
            assert geometry is None  # RFC 7946 §3.2: an unlocated feature
        address = position["address"]
        assert feature["properties"]["address"] == (None if address is None else replaced(address))
    tracks = [f for f in features if f["properties"]["kind"] == "track"]
    assert len(tracks) == (1 if located >= 2 else 0)
    for track in tracks:
        assert track["geometry"]["type"] == "LineString"
        assert len(track["geometry"]["coordinates"]) == located
        assert all(finite_pair(point) for point in track["geometry"]["coordinates"])


def csv_expected(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    text = replaced(str(value))
    return "".join("\ufffd" if unsafe_in_csv(c) else c for c in text)


def unsafe_in_csv(c: str) -> bool:
    return (ord(c) < 32 and c not in "\t\r\n") or 0x7F <= ord(c) <= 0x9F


@property_settings(100, deadline=None)
@given(page=PAGE)
def test_csv_parses_back_to_the_stored_values_for_any_stored_position(page):
    body = CSVRenderer().render(page).decode("utf-8")  # strict: no surrogate can be in it
    assert not any(unsafe_in_csv(c) for c in body)
    rows = list(csv.reader(io.StringIO(body, newline=""), strict=True))
    assert rows[0] == list(CSV_COLUMNS)
    expected = [
        [csv_expected(";".join(p[c]) if c == "points_of_interest" else p[c]) for c in CSV_COLUMNS]
        for p in page["results"]
    ]
    assert rows[1:] == expected


# -- through the API, from the store ---------------------------------------------------------------

# No lone surrogate: BSON (MongoDB and the in-process engines) cannot store one. They reach the
# renderers only in memory (the archive's JSON may escape one), which the properties above cover.
STORED_TEXT = "NC\x00NUL \x01\x1f\x7f ]]> \"quoted\", 'single'\r\nnew line ; é \U0001d7d7"


@pytest.fixture
def stored_oddities(settings):
    """A machine whose stored texts hold control characters and CSV's and XML's delimiters, and
    non-finite coordinates (old data: validation refuses these today)."""
    database = use_fresh_database(settings)
    now = int(time.time() * 1000)
    backends.repositories["positions"].insert(
        [
            Position("ODD", now - 3000, 45.0, 9.0, STORED_TEXT, (STORED_TEXT, "b,c"), STORED_TEXT),
            Position("ODD", now - 2000, math.nan, 9.0, STORED_TEXT, (), None),
            Position("ODD", now - 1000, 45.1, 9.1, None, (), None),
        ]
    )
    database["current_state"].insert_one(
        {
            "_id": "ODD",
            "identifier": "ODD",
            "last_event_at": now,
            "description": {"brand": STORED_TEXT, "model": "\x00", "at": now},
            "position": {"latitude": math.nan, "longitude": math.inf, "address": STORED_TEXT, "at": now},
        }
    )
    return now


@pytest.mark.parametrize(
    ("path", "format"),
    [
        *((path, format) for path in ("/api/v1/current/", "/api/v1/current/ODD/") for format in ("json", "api")),
        *(("/api/v1/history/ODD/", format) for format in ("json", "geojson", "csv", "api")),
    ],
)
def test_stored_oddities_are_served_well_formed_in_every_format(api_client, stored_oddities, path, format):
    now = stored_oddities
    response = api_client.get(path, {"from": now - 10_000, "to": now + 1, "format": format})
    assert response.status_code == 200, response.content[:500]
    body = response.content
    body.decode("utf-8")  # strict
    if format in ("json", "geojson"):
        document = parse_json(body)
        text = json.dumps(document)
        assert "\\u0000" in text  # NUL is escaped, not dropped
    elif format == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), strict=True))
        assert len(rows) == 4
        assert rows[2][2] == ""  # NaN latitude: an empty cell
