"""Plausibility rules for decoded telemetry: pure, driven by the ``rules`` dict (settings).

A record that decodes but breaks one of these rules is dead-lettered with the reasons, so a
latitude of 123 or a clock in the year 2300 never reaches the state, the history or an invoice.
This module imports nothing from Django, pymongo or confluent_kafka.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stream.records import section

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # BSON's widest integer
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000

DEFAULT_RULES = {
    "MAX_AGE_DAYS": 3650,
    "MAX_FUTURE_MINUTES": 10,
    "MAX_STRING_LENGTH": 1024,
    "MAX_POINTS_OF_INTEREST": 100,
    "MAX_DEPTH": 16,
    "MAX_DOCUMENT_BYTES": 1_048_576,
    "MAX_RATE": 1_000_000.0,
}

# Numeric fields of the telemetry record, as paths, with the range each must fall in.
NUMERIC_RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("location", "GPS", "latitude"): (-90.0, 90.0),
    ("location", "GPS", "longitude"): (-180.0, 180.0),
    ("c40", "odometry", "hours_tot"): (0.0, math.inf),
    ("c40", "odometry", "km_tot"): (0.0, math.inf),
    ("c40", "fuel", "used_tot_l"): (0.0, math.inf),
    ("c40", "fuel", "level_pct"): (0.0, 100.0),
}
STRING_FIELDS: tuple[tuple[str, ...], ...] = (
    ("identifier",),
    ("base", "code"),
    ("description", "brand"),
    ("description", "model"),
    ("location", "address"),
)


def _leaves(record: dict) -> dict[tuple[str, ...], Any]:
    """The values of the checked fields, each nested section looked up once (this runs per message:
    walking every path from the top cost more than decoding, see docs/PERFORMANCE.md)."""
    base, description = section(record, "base"), section(record, "description")
    location, c40 = section(record, "location"), section(record, "c40")
    gps, odometry, fuel = section(location, "GPS"), section(c40, "odometry"), section(c40, "fuel")
    return {
        ("identifier",): record.get("identifier"),
        ("base", "code"): base.get("code"),
        ("description", "brand"): description.get("brand"),
        ("description", "model"): description.get("model"),
        ("location", "address"): location.get("address"),
        ("location", "pointsOfInterest"): location.get("pointsOfInterest"),
        ("location", "GPS", "latitude"): gps.get("latitude"),
        ("location", "GPS", "longitude"): gps.get("longitude"),
        ("c40", "odometry", "hours_tot"): odometry.get("hours_tot"),
        ("c40", "odometry", "km_tot"): odometry.get("km_tot"),
        ("c40", "fuel", "used_tot_l"): fuel.get("used_tot_l"),
        ("c40", "fuel", "level_pct"): fuel.get("level_pct"),
    }


def validate_telemetry(record: dict, now_ms: int, rules: dict | None = None) -> list[str]:
    """The reasons ``record`` is implausible; an empty list means it is acceptable."""
    rules = {**DEFAULT_RULES, **rules} if rules else DEFAULT_RULES
    if _plainly_plausible(record, now_ms, rules):
        return []
    return problems_of(record, now_ms, rules)


# What the fast path below reads, in this order; a test keeps it in step with the two tables above.
FAST_PATH_STRING_FIELDS = (
    ("identifier",),
    ("base", "code"),
    ("description", "brand"),
    ("description", "model"),
    ("location", "address"),
)
FAST_PATH_NUMERIC_FIELDS = (
    ("location", "GPS", "latitude"),
    ("location", "GPS", "longitude"),
    ("c40", "odometry", "hours_tot"),
    ("c40", "odometry", "km_tot"),
    ("c40", "fuel", "used_tot_l"),
    ("c40", "fuel", "level_pct"),
)


def _plainly_plausible(record: dict, now_ms: int, rules: dict) -> bool:
    """True only when ``problems_of`` would find nothing: the common case, checked straight through.

    Conservative: anything unusual (an int where a float is expected, a subclass, a non-list) answers
    False and goes to ``problems_of``, which names the problems. Runs once per message.
    """
    if STRING_FIELDS != FAST_PATH_STRING_FIELDS or tuple(NUMERIC_RANGES) != FAST_PATH_NUMERIC_FIELDS:
        return False  # the tables changed and this function did not: let the full check run
    max_len = rules["MAX_STRING_LENGTH"]
    identifier, timestamp = record.get("identifier"), record.get("timestamp")
    if type(identifier) is not str or not identifier.strip() or len(identifier) > max_len:
        return False
    if type(timestamp) is not int or not (
        now_ms - rules["MAX_AGE_DAYS"] * MS_PER_DAY <= timestamp <= now_ms + rules["MAX_FUTURE_MINUTES"] * MS_PER_MINUTE
    ):
        return False
    location, c40 = section(record, "location"), section(record, "c40")
    description, gps = section(record, "description"), section(location, "GPS")
    odometry, fuel = section(c40, "odometry"), section(c40, "fuel")
    for value in (
        section(record, "base").get("code"),
        description.get("brand"),
        description.get("model"),
        location.get("address"),
    ):
        if type(value) is str and len(value) > max_len:
            return False
    latitude, longitude = gps.get("latitude"), gps.get("longitude")
    if (latitude is None) != (longitude is None):
        return False
    numbers = (
        latitude,
        longitude,
        odometry.get("hours_tot"),
        odometry.get("km_tot"),
        fuel.get("used_tot_l"),
        fuel.get("level_pct"),
    )
    for value, (low, high) in zip(numbers, NUMERIC_RANGES.values(), strict=True):
        if value is not None and (type(value) is not float or not math.isfinite(value) or not low <= value <= high):
            return False
    pois = location.get("pointsOfInterest")
    if pois is None:
        return True
    if type(pois) is not list or len(pois) > rules["MAX_POINTS_OF_INTEREST"]:
        return False
    for poi in pois:
        name = poi.get("name") if type(poi) is dict else None
        if type(name) is not str or not name or len(name) > max_len:
            return False
    return True


def problems_of(record: dict, now_ms: int, rules: dict) -> list[str]:
    """Every reason ``record`` is implausible, in a fixed order (``rules`` complete)."""
    problems: list[str] = []
    max_len = rules["MAX_STRING_LENGTH"]
    leaves = _leaves(record)  # holds every path read below: a missing one is a KeyError in every test

    identifier = record.get("identifier")
    if not isinstance(identifier, str) or not identifier.strip():
        problems.append("identifier: must be a non-empty string")

    timestamp = record.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        problems.append("timestamp: must be epoch milliseconds (an integer)")
    else:
        earliest = now_ms - rules["MAX_AGE_DAYS"] * MS_PER_DAY
        latest = now_ms + rules["MAX_FUTURE_MINUTES"] * MS_PER_MINUTE
        if not earliest <= timestamp <= latest:
            problems.append(
                f"timestamp: {timestamp} is outside the plausible window [{earliest}, {latest}] "
                f"({rules['MAX_AGE_DAYS']} days back, {rules['MAX_FUTURE_MINUTES']} minutes ahead)"
            )

    for path in STRING_FIELDS:
        value = leaves[path]
        if isinstance(value, str) and len(value) > max_len:
            problems.append(f"{'.'.join(path)}: {len(value)} characters, more than {max_len}")

    for path, (low, high) in NUMERIC_RANGES.items():
        value = leaves[path]
        if value is None:
            continue
        name = ".".join(path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name}: must be a number")
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            problems.append(f"{name}: an integer that does not fit in 64 bits")  # nor, maybe, in a float
        elif not math.isfinite(value):
            problems.append(f"{name}: must be finite, got {value}")
        elif not low <= value <= high:
            problems.append(f"{name}: {value} is outside [{low}, {high}]")

    latitude = leaves["location", "GPS", "latitude"]
    longitude = leaves["location", "GPS", "longitude"]
    if (latitude is None) != (longitude is None):
        problems.append("location.GPS: latitude and longitude must both be present or both null")

    pois = leaves["location", "pointsOfInterest"] or []
    if len(pois) > rules["MAX_POINTS_OF_INTEREST"]:
        problems.append(f"location.pointsOfInterest: {len(pois)} entries, more than {rules['MAX_POINTS_OF_INTEREST']}")
    for poi in pois:
        name = poi.get("name") if isinstance(poi, dict) else None
        if not isinstance(name, str) or not name or len(name) > max_len:
            problems.append("location.pointsOfInterest: each entry needs a name of 1 to MAX_STRING_LENGTH characters")
            break
    return problems


def validate_registry(record: dict, now_ms: int, rules: dict | None = None) -> list[str]:
    """The reasons a registry record cannot price usage: each rate, when given, a number in
    [0, MAX_RATE]. A rate of 1e308 is storable, but hours x rate is infinite, which strict JSON
    cannot serve and the usage topic's codec cannot publish. ``now_ms`` is unused: the signature
    is every ``VALIDATOR``'s."""
    rules = {**DEFAULT_RULES, **rules} if rules else DEFAULT_RULES
    problems = []
    for name in ("hourly_rate", "km_rate"):
        rate = record.get(name)
        if rate is None:
            continue
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            problems.append(f"{name}: must be a number")
        elif not 0 <= rate <= rules["MAX_RATE"]:  # NaN compares false: refused too
            problems.append(f"{name}: {rate} is outside [0, {rules['MAX_RATE']}]")
    return problems


# --- What every service's records must be, whatever their schema: storable and servable ------------

# A character every renderer can carry: XML 1.0's ``Char`` production (which already excludes the
# lone surrogates BSON cannot encode as UTF-8, and U+FFFE/U+FFFF) less the C0 controls it admits
# (tab, line feed, carriage return), DEL and the C1 controls, which break a CSV row, a log line, a
# URL path or a terminal wherever an identifier or a name is shown.
_UNSERVABLE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Problems named per record at most: a record with a million bad strings gives a short reason.
MAX_PROBLEMS = 10
_PATH_KEY_CHARACTERS = 40


def _path_text(path: tuple) -> str:
    """``path`` as ``a.b[2].c``, each key shown safely (escaped, cut) since keys come from outside."""
    parts: list[str] = []
    for step in path:
        if type(step) is int:
            parts.append(f"[{step}]")
        else:
            text = step if _UNSERVABLE.search(step) is None else ascii(step)[1:-1]
            if len(text) > _PATH_KEY_CHARACTERS:
                text = text[:_PATH_KEY_CHARACTERS] + "…"
            parts.append(("." if parts else "") + text)
    return "".join(parts) or "record"


def _character_problem(text: str) -> str | None:
    bad = _UNSERVABLE.search(text)
    if bad is None:
        return None
    code = ord(bad.group())
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character or non-character"
    return f"U+{code:04X} at {bad.start()} is {kind}, which no API format can carry"


def _plain_size(value: Any, depth: int, max_depth: int, max_len: int) -> int:
    """The size ``storable_problems`` counts when nothing in ``value`` breaks its rules, else -1.

    The common case, checked in one recursive pass without paths: the full walk builds a path per
    value, which cost more than decoding, and this runs per message. Leaves are checked inline (a
    call per leaf doubled the time). ``str.isprintable`` is true only for strings of servable
    characters (it is false for every control, surrogate and non-character), so the pattern runs
    only on the rest. Recursion is bounded by ``max_depth``: deeper answers -1 at once, and the
    full walk names the problem.
    """
    total = 0
    if type(value) is dict:
        if depth > max_depth:
            return -1
        items = value.values()
        for key in value:
            if type(key) is not str or not (key.isprintable() or _UNSERVABLE.search(key) is None):
                return -1
            total += len(key) if key.isascii() else len(key.encode("utf-8"))
    elif type(value) is list:
        if depth > max_depth:
            return -1
        items = value
    else:
        return _plain_size({"": value}, depth - 1, max_depth, max_len)
    for item in items:
        kind = type(item)
        if kind is str:
            if len(item) > max_len or not (item.isprintable() or _UNSERVABLE.search(item) is None):
                return -1
            total += len(item) if item.isascii() else len(item.encode("utf-8"))
        elif kind is float:
            if item - item != 0.0:  # NaN and the infinities (inf - inf is NaN), without a call
                return -1
            total += 8
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                return -1
            total += 8
        elif item is None or kind is bool:
            total += 1
        elif kind is dict or kind is list:
            size = _plain_size(item, depth + 1, max_depth, max_len)
            if size < 0:
                return -1
            total += size
        else:
            return -1
    return total


def storable_problems(record: Any, rules: dict | None = None) -> list[str]:
    """Why ``record`` cannot be stored in MongoDB or served by every renderer; empty when it can.

    The rules, for every value of every service's record (docs/CONSUMERS.md, "What a consumer
    accepts"): integers in the signed 64-bit range (BSON's largest); finite floats (strict JSON has
    no NaN); strings and keys of servable characters only (``_UNSERVABLE``) and at most
    MAX_STRING_LENGTH characters; nesting at most MAX_DEPTH containers deep; the whole at most
    MAX_DOCUMENT_BYTES (UTF-8 bytes of every string and key, 8 per number), far under MongoDB's
    16 MB; only JSON's types. The walk is iterative, so no depth makes it recurse, and it stops at
    the size limit, so no size makes it slow.
    """
    rules = {**DEFAULT_RULES, **rules} if rules else DEFAULT_RULES
    max_depth, max_bytes, max_len = rules["MAX_DEPTH"], rules["MAX_DOCUMENT_BYTES"], rules["MAX_STRING_LENGTH"]
    if 0 <= _plain_size(record, 1, max_depth, max_len) <= max_bytes:
        return []
    return walk_problems(record, max_depth, max_bytes, max_len)


def walk_problems(record: Any, max_depth: int, max_bytes: int, max_len: int) -> list[str]:
    """``storable_problems`` without its fast path: every value visited, each problem named."""
    problems: list[str] = []
    size = 0
    stack: list[tuple[Any, tuple, int]] = [(record, (), 1)]
    while stack and len(problems) < MAX_PROBLEMS:
        value, path, depth = stack.pop()
        kind = type(value)
        if kind is str:
            size += len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
            if len(value) > max_len:
                problems.append(f"{_path_text(path)}: {len(value)} characters, more than {max_len}")
            elif (problem := _character_problem(value)) is not None:
                problems.append(f"{_path_text(path)}: {problem}")
        elif kind is dict or kind is list:
            if depth > max_depth:
                problems.append(f"{_path_text(path)}: nested more than {max_depth} levels deep")
                continue
            if kind is list:
                stack.extend((item, (*path, index), depth + 1) for index, item in reversed(list(enumerate(value))))
                continue
            for key in value:
                if type(key) is not str:
                    problems.append(f"{_path_text(path)}: a key of type {type(key).__name__}")
                    break
                size += len(key) if key.isascii() else len(key.encode("utf-8", "surrogatepass"))
                if (problem := _character_problem(key)) is not None:
                    problems.append(f"{_path_text(path)}: a key's {problem}")
                    break
            else:
                stack.extend((item, (*path, key), depth + 1) for key, item in reversed(value.items()))
        elif kind is float:
            size += 8
            if not math.isfinite(value):
                problems.append(f"{_path_text(path)}: must be finite, got {value}")
        elif kind is int:
            size += 8
            if not INT64_MIN <= value <= INT64_MAX:
                digits = len(str(abs(value))) if value.bit_length() < 10_000 else "thousands of"
                problems.append(f"{_path_text(path)}: an integer of {digits} digits does not fit in 64 bits")
        elif kind is bool or value is None:
            size += 1
        else:
            problems.append(f"{_path_text(path)}: a value of type {kind.__name__}, which no codec produces")
        if size > max_bytes:
            problems.append(f"record: more than {max_bytes} bytes (strings, keys, 8 per number)")
            break
    return problems[:MAX_PROBLEMS]
