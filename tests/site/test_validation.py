"""Plausibility rules of decoded telemetry: pure, no fixtures."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream import validation
from stream.validation import DEFAULT_RULES, validate_telemetry
from tests.factories import T0, telemetry
from tests.properties import property_settings

NOW = T0 + 3_600_000


def problems(record, **rules):
    """What ``validate_telemetry`` reports, checked against the full check alone: a record the fast
    path lets through must be one the full check finds nothing wrong with."""
    found = validate_telemetry(record, NOW, rules)
    assert validation.problems_of(record, NOW, {**DEFAULT_RULES, **rules}) == found
    return found


def test_a_normal_record_passes():
    assert problems(telemetry(pois=["A", "B"])) == []
    assert problems({"identifier": "EX1", "timestamp": T0}) == []
    assert validate_telemetry(telemetry(), NOW) == []  # no rules given: the defaults
    assert validate_telemetry(telemetry(timestamp=NOW + 3_600_000), NOW) != []


def test_identifier_must_be_a_non_empty_string():
    assert problems({"identifier": " ", "timestamp": T0}) == ["identifier: must be a non-empty string"]
    assert problems({"identifier": 7, "timestamp": T0}) == ["identifier: must be a non-empty string"]


def test_timestamp_window_edges():
    future = DEFAULT_RULES["MAX_FUTURE_MINUTES"] * 60_000
    assert problems(telemetry(timestamp=NOW + future)) == []
    assert problems(telemetry(timestamp=NOW + future + 1))[0].startswith("timestamp: ")
    oldest = NOW - 2 * 86_400_000
    assert problems(telemetry(timestamp=oldest), MAX_AGE_DAYS=2) == []
    assert problems(telemetry(timestamp=oldest - 1), MAX_AGE_DAYS=2)[0].startswith("timestamp: ")
    assert problems(telemetry(timestamp=0)) != []  # 1970
    assert problems({"identifier": "EX1", "timestamp": True}) == ["timestamp: must be epoch milliseconds (an integer)"]


def test_coordinates_in_range_and_paired():
    assert problems(telemetry(latitude=90.0, longitude=-180.0)) == []
    assert problems(telemetry(latitude=123.0)) == ["location.GPS.latitude: 123.0 is outside [-90.0, 90.0]"]
    assert problems(telemetry(longitude=180.5)) == ["location.GPS.longitude: 180.5 is outside [-180.0, 180.0]"]
    assert problems(telemetry(latitude=None, longitude=9.0)) == [
        "location.GPS: latitude and longitude must both be present or both null"
    ]


def test_counters_finite_and_not_negative():
    assert problems(telemetry(hours=-0.1)) == ["c40.odometry.hours_tot: -0.1 is outside [0.0, inf]"]
    assert problems(telemetry(km=math.nan)) == ["c40.odometry.km_tot: must be finite, got nan"]
    assert problems(telemetry(fuel_used=math.inf)) == ["c40.fuel.used_tot_l: must be finite, got inf"]
    assert problems(telemetry(fuel_level=100.5)) == ["c40.fuel.level_pct: 100.5 is outside [0.0, 100.0]"]
    assert problems(telemetry(hours=0.0, km=0.0, fuel_level=0.0)) == []


def test_field_sizes():
    assert problems(telemetry(address="x" * 11), MAX_STRING_LENGTH=11) == []
    assert problems(telemetry(address="x" * 12), MAX_STRING_LENGTH=11) == [
        "location.address: 12 characters, more than 11"
    ]
    assert problems(telemetry(pois=["a", "b", "c"]), MAX_POINTS_OF_INTEREST=2) == [
        "location.pointsOfInterest: 3 entries, more than 2"
    ]
    record = telemetry()
    record["location"]["pointsOfInterest"] = [{"name": ""}]
    assert problems(record)[0].startswith("location.pointsOfInterest: each entry needs a name")


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"identifier": "E" * 12}, "identifier"),
        ({"base": "B" * 12}, "base.code"),
        ({"brand": "C" * 12}, "description.brand"),
        ({"model": "M" * 12}, "description.model"),
        ({"address": "A" * 12}, "location.address"),
    ],
)
def test_every_string_field_is_held_to_the_maximum_length(overrides, name):
    assert problems(short_strings(**overrides), MAX_STRING_LENGTH=11) == [f"{name}: 12 characters, more than 11"]
    exactly = {key: value[:11] for key, value in overrides.items()}
    assert problems(short_strings(**exactly), MAX_STRING_LENGTH=11) == []


def short_strings(**overrides):
    return telemetry(**{"address": "Via Roma 1", "brand": "CAT", **overrides})


def test_range_edges_are_inside():
    assert problems(telemetry(latitude=-90.0, longitude=180.0, fuel_level=100.0)) == []
    assert problems(telemetry(latitude=90.0, longitude=-180.0, fuel_level=0.0, hours=0.0)) == []


def test_a_counter_that_is_not_a_number_is_named():
    record = telemetry()
    record["c40"]["odometry"]["km_tot"] = "5000 km"
    record["location"]["GPS"]["latitude"] = True
    assert problems(record) == ["location.GPS.latitude: must be a number", "c40.odometry.km_tot: must be a number"]


def test_fields_after_an_absent_one_are_still_checked():
    assert problems(telemetry(latitude=None, longitude=None, hours=None, fuel_level=200.0)) == [
        "c40.fuel.level_pct: 200.0 is outside [0.0, 100.0]"
    ]


def test_points_of_interest_up_to_the_maximum_with_names_up_to_the_maximum_length():
    assert problems(telemetry(pois=["a", "b"]), MAX_POINTS_OF_INTEREST=2) == []
    assert problems(short_strings(pois=["x" * 11]), MAX_STRING_LENGTH=11) == []
    assert problems(short_strings(pois=["x" * 12]), MAX_STRING_LENGTH=11) == [
        "location.pointsOfInterest: each entry needs a name of 1 to MAX_STRING_LENGTH characters"
    ]


def test_points_of_interest_that_are_not_records_are_named_not_raised():
    record = telemetry()
    record["location"]["pointsOfInterest"] = ["Site A"]
    assert problems(record) == [
        "location.pointsOfInterest: each entry needs a name of 1 to MAX_STRING_LENGTH characters"
    ]


def test_every_problem_is_reported_at_once():
    assert len(problems(telemetry(latitude=100.0, km=-1.0, fuel_level=200.0))) == 3


# --- the fast path agrees with the full check -------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-200, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 200),
    st.text(max_size=6),
    st.just(""),
    st.just(" "),
)
_poi = st.one_of(st.fixed_dictionaries({"name": _scalars}), _scalars)
_record = st.fixed_dictionaries(
    {
        "identifier": st.one_of(st.sampled_from(["EX1", " ", ""]), _scalars),
        "timestamp": st.one_of(st.integers(NOW - 5 * 86_400_000, NOW + 3_600_000), _scalars),
        "base": st.one_of(st.none(), st.fixed_dictionaries({"code": _scalars})),
        "description": st.one_of(st.none(), st.fixed_dictionaries({"brand": _scalars, "model": _scalars})),
        "location": st.one_of(
            st.none(),
            _scalars,
            st.fixed_dictionaries(
                {
                    "address": _scalars,
                    "GPS": st.one_of(st.none(), st.fixed_dictionaries({"latitude": _scalars, "longitude": _scalars})),
                    # The schema makes it an array or null; the full check relies on that.
                    "pointsOfInterest": st.one_of(st.none(), st.lists(_poi, max_size=4)),
                }
            ),
        ),
        "c40": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "odometry": st.one_of(
                        st.none(), st.fixed_dictionaries({"hours_tot": _scalars, "km_tot": _scalars})
                    ),
                    "fuel": st.one_of(
                        st.none(), st.fixed_dictionaries({"used_tot_l": _scalars, "level_pct": _scalars})
                    ),
                }
            ),
        ),
    }
)


def _plausible_records():
    """Ordinary records, and records at every edge the rules allow (under FAST_RULES)."""
    no_sections = {"identifier": "EX1", "timestamp": NOW}
    nulls = telemetry(latitude=None, longitude=None, hours=None, km=None, fuel_used=None, fuel_level=None)
    nulls.update(base=None, description={"brand": None, "model": None})
    nulls["location"].update(address=None, pointsOfInterest=None)
    return [
        short_strings(),
        short_strings(pois=["Site A", "x" * 11]),
        short_strings(timestamp=NOW + 10 * 60_000),
        short_strings(timestamp=NOW - 2 * 86_400_000),
        short_strings(identifier="E" * 11, base="B" * 11, brand="C" * 11, model="M" * 11, address="A" * 11),
        short_strings(latitude=-90.0, longitude=180.0, fuel_level=100.0),
        short_strings(latitude=90.0, longitude=-180.0, fuel_level=0.0, hours=0.0, km=0.0, fuel_used=0.0),
        nulls,
        no_sections,
    ]


FAST_RULES = {**DEFAULT_RULES, "MAX_STRING_LENGTH": 11, "MAX_POINTS_OF_INTEREST": 2, "MAX_AGE_DAYS": 2}


def test_plausible_records_take_the_fast_path():
    # The fast path is what keeps validation cheap per message (docs/PERFORMANCE.md): the ordinary
    # record, and one at each edge of the rules, must not fall through to the full check.
    for record in _plausible_records():
        assert validation.problems_of(record, NOW, FAST_RULES) == []
        assert validation._plainly_plausible(record, NOW, FAST_RULES) is True, record


def test_the_fast_path_reads_the_fields_the_tables_name():
    assert validation.FAST_PATH_STRING_FIELDS == validation.STRING_FIELDS
    assert tuple(validation.NUMERIC_RANGES) == validation.FAST_PATH_NUMERIC_FIELDS


@property_settings(400, deadline=None)
@given(_record, st.integers(3, 8), st.integers(1, 3))
def test_the_fast_path_accepts_only_what_the_full_check_accepts(record, max_len, max_pois):
    rules = {**DEFAULT_RULES, "MAX_STRING_LENGTH": max_len, "MAX_POINTS_OF_INTEREST": max_pois, "MAX_AGE_DAYS": 2}
    full = validation.problems_of(record, NOW, rules)
    if validation._plainly_plausible(record, NOW, rules):
        assert full == []
    assert validate_telemetry(record, NOW, rules) == full


# --- storable_problems: what every service's records must be, whatever their schema ----------------


def storable(record, **rules):
    return validation.storable_problems(record, rules or None)


@pytest.mark.parametrize(
    ("text", "character"),
    [
        ("EX\x00001", "U+0000"),
        ("EX\t1", "U+0009"),
        ("EX\n1", "U+000A"),
        ("EX\r1", "U+000D"),
        ("EX\x1f1", "U+001F"),
        ("EX\x7f1", "U+007F"),
        ("EX\x851", "U+0085"),
        ("EX\x9f1", "U+009F"),
        ("EX\ud8001", "U+D800"),
        ("EX\udc801", "U+DC80"),
        ("EX\ufffe1", "U+FFFE"),
        ("EX\uffff1", "U+FFFF"),
    ],
)
def test_strings_with_characters_no_api_format_can_carry_are_refused_with_the_character(text, character):
    record = {"identifier": text, "location": {"pointsOfInterest": [{"name": text}]}}
    found = storable(record)
    kind = "a lone surrogate" if character in ("U+D800", "U+DC80") else "a control character or non-character"
    assert found == [
        f"identifier: {character} at 2 is {kind}, which no API format can carry",
        f"location.pointsOfInterest[0].name: {character} at 2 is {kind}, which no API format can carry",
    ]


def test_servable_strings_pass_whatever_their_script():
    names = ["EX 001", "Ünïcödé", "\xa0nbsp", "日本語", "emoji \U0001f69c", "\ud7ff\ue000\ufffd", "\u2028", "~ !"]
    assert storable({"identifier": "x", "names": names}) == []


def test_integers_must_fit_in_64_bits_and_floats_be_finite():
    assert storable({"a": 2**63 - 1, "b": -(2**63), "c": 1.5, "d": True, "e": None}) == []
    assert storable({"a": 2**63}) == ["a: an integer of 19 digits does not fit in 64 bits"]
    assert storable({"a": -(2**63) - 1}) == ["a: an integer of 19 digits does not fit in 64 bits"]
    assert storable({"a": 10**500}) == ["a: an integer of 501 digits does not fit in 64 bits"]
    assert storable({"a": 10**5000}) == ["a: an integer of thousands of digits does not fit in 64 bits"]
    assert storable({"a": [math.nan, math.inf]}) == ["a[0]: must be finite, got nan", "a[1]: must be finite, got inf"]


def test_nesting_deeper_than_the_limit_is_refused_without_recursion():
    deep: dict = {"leaf": 1}
    for _ in range(100_000):  # far past Python's recursion limit
        deep = {"x": [deep]}
    assert storable(deep) == [f"{'.x[0]' * 8}"[1:] + ": nested more than 16 levels deep"]
    at_limit: dict = {}
    for _ in range(15):
        at_limit = {"x": at_limit}
    assert storable(at_limit) == [] and storable({"x": at_limit}) != []
    assert storable({"x": {"y": {}}}, MAX_DEPTH=2) == ["x.y: nested more than 2 levels deep"]


def test_strings_longer_than_the_limit_and_records_larger_than_the_limit_are_refused():
    assert storable({"brand": "b" * 1024}) == []
    assert storable({"brand": "b" * 1025}) == ["brand: 1025 characters, more than 1024"]
    assert storable({"s": ["x" * 100] * 10}, MAX_DOCUMENT_BYTES=1_000) == [
        "record: more than 1000 bytes (strings, keys, 8 per number)"
    ]
    assert storable({"s": ["x" * 100] * 9}, MAX_DOCUMENT_BYTES=1_000) == []  # 900 + 1 for the key
    # UTF-8 bytes: 2 for the key, 20 for the value
    assert storable({"é": "é" * 10}, MAX_DOCUMENT_BYTES=22) == [] != storable({"é": "é" * 10}, MAX_DOCUMENT_BYTES=21)


def test_hostile_keys_are_refused_and_shown_escaped_and_cut():
    assert storable({"ok": {"bad\x00key": 1}}) == [
        "ok: a key's U+0000 at 3 is a control character or non-character, which no API format can carry"
    ]
    assert storable({"k" * 100: {"a": 2**64}}) == [f"{'k' * 40}….a: an integer of 20 digits does not fit in 64 bits"]
    assert storable({"n": {"k\x01" * 30: 2**64}}) == [
        "n: a key's U+0001 at 1 is a control character or non-character, which no API format can carry"
    ]  # the bad key is named once, and the values under it are not walked
    assert storable({1: "x"}) == ["record: a key of type int"]
    assert storable({"v": b"bytes"}) == ["v: a value of type bytes, which no codec produces"]


def test_a_record_with_very_many_problems_names_at_most_ten():
    found = storable({"values": [math.nan] * 1000})
    assert len(found) == validation.MAX_PROBLEMS == 10 and found[0] == "values[0]: must be finite, got nan"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None), max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@property_settings(200)
@given(json_values)
def test_storable_problems_never_raises_and_what_it_accepts_bson_encodes(value):
    import bson

    found = storable({"value": value})
    if not found:
        bson.encode({"value": value})


@property_settings(300)
@given(json_values, st.integers(1, 4), st.integers(0, 10), st.integers(0, 200))
def test_the_fast_path_accepts_exactly_what_the_full_walk_accepts(value, max_depth, max_len, max_bytes):
    record = {"value": value}
    rules = {"MAX_DEPTH": max_depth, "MAX_STRING_LENGTH": max_len, "MAX_DOCUMENT_BYTES": max_bytes}
    assert (storable(record, **rules) == []) == (validation.walk_problems(record, max_depth, max_bytes, max_len) == [])


@property_settings(300)
@given(st.text(st.characters(codec=None), max_size=30))
def test_a_string_it_accepts_every_renderer_serves_unchanged(text):
    """What the consumer accepts, every API format carries: JSON (strict), XML (the AEMP renderer's
    ElementTree, parsed back), CSV (the history renderer's writer, read back) and BSON."""
    import csv
    import io
    import json
    import xml.etree.ElementTree as ET

    import bson

    from equipment_current.aemp.xml_document import to_xml

    if storable({"identifier": text}):
        return
    assert json.loads(json.dumps({"identifier": text}, allow_nan=False)) == {"identifier": text}
    assert ET.fromstring(to_xml("Equipment", {"identifier": text})).find("identifier").text == (text or None)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([text, "x"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [text, "x"]
    assert bson.decode(bson.encode({"identifier": text})) == {"identifier": text}


def test_registry_rates_must_be_numbers_from_zero_to_the_maximum():
    def rates(**values):
        return validation.validate_registry({"identifier": "EX1", "last_update": T0, **values}, NOW)

    assert rates() == [] == rates(hourly_rate=None, km_rate=None)
    assert rates(hourly_rate=0.0, km_rate=1_000_000.0) == [] == rates(hourly_rate=3)
    assert rates(hourly_rate=-0.5) == ["hourly_rate: -0.5 is outside [0, 1000000.0]"]
    assert rates(km_rate=1e308, hourly_rate=math.nan) == [
        "hourly_rate: nan is outside [0, 1000000.0]",
        "km_rate: 1e+308 is outside [0, 1000000.0]",
    ]
    assert rates(km_rate="1", hourly_rate=True) == ["hourly_rate: must be a number", "km_rate: must be a number"]
    assert validation.validate_registry({"km_rate": 10.0}, NOW, {"MAX_RATE": 5}) == ["km_rate: 10.0 is outside [0, 5]"]


# --- The fast path's size and the path text, unit by unit -------------------------------------------


def plain_size(value, max_depth=16, max_len=1024):
    return validation._plain_size(value, 1, max_depth, max_len)


def walked_size(value, max_depth=16, max_len=1024):
    """The size the full walk counts: the least MAX_DOCUMENT_BYTES it accepts ``value`` under."""
    assert validation.walk_problems(value, max_depth, 10**9, max_len) == []
    low, high = 0, 10**9
    while low < high:
        middle = (low + high) // 2
        if validation.walk_problems(value, max_depth, middle, max_len) == []:
            high = middle
        else:
            low = middle + 1
    return low


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({}, 0),
        ([], 0),
        ({"ab": "cde"}, 5),  # every key and string, ASCII: a byte a character
        ({"a": "x", "bc": "yz"}, 6),  # each key counted, not only the last
        ({"é": "日本"}, 2 + 6),  # UTF-8 bytes of keys and strings
        ({"\xa0\u2028": "\u2028\xa0"}, 5 + 5),  # servable though not isprintable, key and value
        ({"f": 1.5, "z": 0.0, "n": -2.5e300}, 3 + 24),  # 8 per float
        ({"i": 7, "j": 2**63 - 1, "k": -(2**63)}, 3 + 24),  # 8 per integer, the range's ends included
        ({"t": True, "f": False, "n": None}, 3 + 3),  # 1 per boolean or null
        ([None, True, 1, 1.0, "s"], 1 + 1 + 8 + 8 + 1),
        ({"x": {}, "y": []}, 2),  # empty containers inside: nothing but their keys
        ({"x": [{"y": [1]}], "z": "w"}, 1 + 1 + 8 + 1 + 1),
        ("abc", 3),  # a record that is not a container: its value alone, no key
        ("é", 2),
        (5, 8),
        (2.5, 8),
        (None, 1),
        (True, 1),
    ],
)
def test_the_fast_path_counts_the_size_the_full_walk_counts(value, size):
    assert plain_size(value) == size == walked_size(value)
    assert validation.storable_problems(value, {"MAX_DOCUMENT_BYTES": size}) == []
    if size:
        assert validation.storable_problems(value, {"MAX_DOCUMENT_BYTES": size - 1}) != []


def test_the_fast_path_takes_strings_up_to_the_maximum_length_and_nesting_up_to_the_maximum_depth():
    assert plain_size({"s": "x" * 5}, max_len=5) == 6 and plain_size({"s": "x" * 6}, max_len=5) == -1
    assert plain_size("x" * 5, max_len=5) == 5 and plain_size("x" * 6, max_len=5) == -1
    assert plain_size({"x": {}}, max_depth=2) == 1 and plain_size({"x": {"y": {}}}, max_depth=2) == -1
    assert plain_size([[]], max_depth=2) == 0 and plain_size([[[]]], max_depth=2) == -1
    assert plain_size({"x": [{}]}, max_depth=3) == 1 and plain_size({"x": [{"y": []}]}, max_depth=3) == -1
    assert plain_size("x", max_depth=1) == 1 and plain_size({"x": 1}, max_depth=1) == 9  # a scalar is no container
    assert storable({"x": {}}, MAX_DEPTH=2) == [] and storable([[]], MAX_DEPTH=2) == []
    assert plain_size({}, max_depth=0) == -1 and plain_size([], max_depth=0) == -1  # the record is one level
    assert storable({}, MAX_DEPTH=0) == ["record: nested more than 0 levels deep"] == storable([], MAX_DEPTH=0)


@pytest.mark.parametrize(
    "value",
    [
        {1: "x"},  # a key that is not a string
        {"a\x00": 1},  # a key with a character no format carries
        {"k": "a\x7f"},  # such a string
        {"k": "\ud800"},
        "\x85",
        {"k": "x" * 1025},  # too long
        {"k": math.nan},
        {"k": math.inf},
        [-math.inf],
        {"k": 2**63},  # an integer past 64 bits
        {"k": -(2**63) - 1},
        {"k": b"bytes"},  # a type no codec produces
        {"k": (1, 2)},
        {"k": [1, {"x": math.nan}]},  # a problem further down
        [[{"a": 1}, 2**64]],
        {"x": {"x": {}}},  # deeper than MAX_DEPTH (2 here)
        [[[]]],
    ],
)
def test_the_fast_path_answers_minus_one_for_whatever_breaks_a_rule(value):
    assert validation._plain_size(value, 1, 2, 1024) == -1
    assert validation.walk_problems(value, 2, 10**9, 1024) != []


def test_path_text_shows_keys_escaped_and_cut():
    path_text = validation._path_text
    assert path_text(()) == "record"
    assert path_text(("location", "pointsOfInterest", 0, "name")) == "location.pointsOfInterest[0].name"
    assert path_text(("é", "日本", 3)) == "é.日本[3]"  # servable keys as they are
    assert path_text(("a\x00b", "c\ud800", "tab\t")) == "a\\x00b.c\\ud800.tab\\t"  # the others escaped
    assert path_text(("\x85x",)) == "\\x85x"
    assert path_text(("k" * 40,)) == "k" * 40 and path_text(("k" * 41,)) == "k" * 40 + "…"
    assert path_text(("\x01" * 20,)) == "\\x01" * 10 + "…"  # cut after escaping
    assert storable({"k" * 40: {"a": 2**64}}) == [f"{'k' * 40}.a: an integer of 20 digits does not fit in 64 bits"]
    assert storable({"é": [2**64]}) == ["é[0]: an integer of 20 digits does not fit in 64 bits"]


@pytest.mark.parametrize(
    ("character", "kind"),
    [
        ("\ud800", "a lone surrogate"),
        ("\udbff", "a lone surrogate"),
        ("\udc00", "a lone surrogate"),
        ("\udfff", "a lone surrogate"),
        ("\x00", "a control character or non-character"),
        ("\ufffe", "a control character or non-character"),
    ],
)
def test_character_problem_names_surrogates_to_the_end_of_their_range(character, kind):
    code = ord(character)
    assert validation._character_problem("ok" + character) == (
        f"U+{code:04X} at 2 is {kind}, which no API format can carry"
    )
    assert validation._character_problem("ok \ud7ff\ue000\ufffd\U0010ffff") is None


def test_the_full_walk_takes_strings_of_the_maximum_length_and_counts_exact_bytes():
    assert validation.walk_problems({"s": "x" * 5}, 16, 100, 5) == []
    assert validation.walk_problems({"s": "x" * 6}, 16, 100, 5) == ["s: 6 characters, more than 5"]
    record = {"ab": "cde", "é": 1.5, "i": 7, "n": None}  # 2 + 3 + 2 + 8 + 1 + 8 + 1 + 1
    assert validation.walk_problems(record, 16, 26, 1024) == []
    assert validation.walk_problems(record, 16, 25, 1024) == [
        "record: more than 25 bytes (strings, keys, 8 per number)"
    ]


def test_counters_take_every_64_bit_integer_in_their_range():
    odometry = {"identifier": "EX1", "timestamp": T0, "c40": {"odometry": {"km_tot": 2**63 - 1, "hours_tot": 5}}}
    assert problems(odometry) == []
    gps = {"identifier": "EX1", "timestamp": T0, "location": {"GPS": {"latitude": -(2**63), "longitude": 0}}}
    assert problems(gps) == [f"location.GPS.latitude: {-(2**63)} is outside [-90.0, 90.0]"]
