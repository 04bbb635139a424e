"""The archive merge against a real HTTP server on localhost (the stand-in of tests/history/archive_stand_in.py).

No patched ``requests``: the client opens real sockets, so timeouts, status codes and bodies are
the real thing.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from equipment_history.archive import ArchiveUnavailable, HttpArchiveClient
from equipment_history.business import MS_PER_DAY, MS_PER_MINUTE, Position
from tests.factories import authenticated_api_client
from tests.history.archive_stand_in import CONNECT_TIMEOUT, READ_TIMEOUT, RETENTION_DAYS

NOW = int(time.time() * 1000)
BOUNDARY = NOW - RETENTION_DAYS * MS_PER_DAY
# Every 30 minutes over 3 days, offset by 15 so that no position sits within minutes of the
# retention boundary (the hot store expires by the clock, which moves while the test runs).
TIMESTAMPS = [NOW - 3 * MS_PER_DAY + 15 * MS_PER_MINUTE + i * 30 * MS_PER_MINUTE for i in range(144)]
# The archive holds everything up to two hours past the boundary: more than the overlap asked for.
ARCHIVED_UNTIL = BOUNDARY + 120 * MS_PER_MINUTE
# Within the budget of one archive call (connect + read timeouts), with a generous margin.
BUDGET_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT + 3.0


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture
def machine(history):
    """EX001's positions: all of them offered to the hot store (the retention sweep removes the old
    ones, as the TTL index does on a server), and the old ones plus the seam in the archive, marked
    by their address."""
    positions = [
        Position("EX001", t, 45.0 + i / 1000, 9.0 + i / 1000, "hot", ("Site",), "MI01")
        for i, t in enumerate(TIMESTAMPS)
    ]
    history.repository.insert(positions)
    history.repository.delete_expired(int(time.time() * 1000))
    history.archive.positions["EX001"] = [
        {
            "timestamp": p.timestamp,
            "latitude": p.latitude,
            "longitude": p.longitude,
            "address": "archive",
            "points_of_interest": list(p.points_of_interest),
            "base": p.base,
        }
        for p in positions
        if p.timestamp < ARCHIVED_UNTIL
    ]
    return history


def walk(client, params: dict) -> tuple[list[dict], list[dict]]:
    """Every result of every page, and every page body."""
    pages = [client.get("/api/v1/history/EX001/", params).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    return [item for page in pages for item in page["results"]], pages


def test_range_past_retention_merges_archive_and_hot_without_duplicates(machine):
    results, pages = walk(authenticated_api_client(), {"from": str(TIMESTAMPS[0]), "to": str(NOW), "page_size": 40})
    assert [ms(item["timestamp"]) for item in results] == TIMESTAMPS
    # Old positions come from the archive, recent ones from the hot store, and at the seam —
    # where both hold a position — the hot copy is served, once.
    assert {item["address"] for item in results if ms(item["timestamp"]) < BOUNDARY} == {"archive"}
    assert {item["address"] for item in results if ms(item["timestamp"]) > BOUNDARY} == {"hot"}
    served_twice = {p["timestamp"] for p in machine.archive.served} & {t for t in TIMESTAMPS if t > BOUNDARY}
    assert served_twice, "the archive was expected to return positions the hot store also had"
    assert [page["archive"] for page in pages][:2] == ["merged", "merged"]
    assert pages[-1]["archive"] == "not_needed"
    # The archive was asked for the old part only: up to the overlap past the boundary, no more
    # than one page and the look-ahead position at a time.
    first = machine.archive.requests[0]
    assert first["identifier"] == "EX001" and first["from"] == TIMESTAMPS[0] and first["limit"] == 41
    overlap = 60 * MS_PER_MINUTE
    # The boundary moves with the clock: allow for the time since NOW was taken (module import).
    drift = int(time.time() * 1000) - NOW
    assert all(
        BOUNDARY + overlap <= request["to"] <= BOUNDARY + overlap + drift for request in machine.archive.requests
    )


def test_range_inside_retention_does_not_call_the_archive(machine):
    body = (
        authenticated_api_client()
        .get("/api/v1/history/EX001/", {"from": str(BOUNDARY + MS_PER_DAY), "to": str(NOW)})
        .json()
    )
    assert body["archive"] == "not_needed"
    assert [ms(item["timestamp"]) for item in body["results"]] == [t for t in TIMESTAMPS if t >= BOUNDARY + MS_PER_DAY]
    assert machine.archive.requests == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "answered HTTP 500"),
        ("slow", "timed out"),
        ("malformed", "not JSON"),
        ("off-contract", "off-contract JSON"),
    ],
)
def test_failing_archive_gives_the_hot_part_marked_unavailable_within_the_budget(machine, mode, reason):
    machine.archive.mode = mode
    started = time.monotonic()
    response = authenticated_api_client().get("/api/v1/history/EX001/", {"from": str(TIMESTAMPS[0]), "to": str(NOW)})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["archive"] == "unavailable"
    assert reason in body["archive_detail"]
    assert [ms(item["timestamp"]) for item in body["results"]] == [t for t in TIMESTAMPS if t > BOUNDARY]
    assert {item["address"] for item in body["results"]} == {"hot"}
    assert len(machine.archive.requests) == 1
    assert elapsed < BUDGET_SECONDS


@pytest.mark.parametrize("history", ["refused"], indirect=True)
def test_unreachable_archive_gives_the_hot_part_marked_unavailable(machine):
    started = time.monotonic()
    body = authenticated_api_client().get("/api/v1/history/EX001/", {"from": str(TIMESTAMPS[0]), "to": str(NOW)}).json()
    assert time.monotonic() - started < BUDGET_SECONDS
    assert body["archive"] == "unavailable"
    assert "unreachable" in body["archive_detail"]
    assert [ms(item["timestamp"]) for item in body["results"]] == [t for t in TIMESTAMPS if t > BOUNDARY]


@pytest.mark.parametrize("history", ["no archive"], indirect=True)
def test_no_archive_configured_is_said_and_nothing_is_called(machine):
    body = authenticated_api_client().get("/api/v1/history/EX001/", {"from": str(TIMESTAMPS[0]), "to": str(NOW)}).json()
    assert body["archive"] == "not_configured"
    assert "no archive is configured" in body["archive_detail"]
    assert [ms(item["timestamp"]) for item in body["results"]] == [t for t in TIMESTAMPS if t > BOUNDARY]
    assert machine.archive.requests == []


def test_client_follows_the_documented_contract(archive_server):
    archive_server.positions["EX 1/2"] = [
        {"timestamp": 5, "latitude": 1.5, "longitude": 2.5},
        {"timestamp": 7, "latitude": 1.0, "longitude": 2.0, "address": None, "points_of_interest": ["S"]},
        {"timestamp": 9, "latitude": 1.0, "longitude": 2.0},
    ]
    client = HttpArchiveClient(archive_server.url + "/", connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    positions = client.positions("EX 1/2", 5, 9, limit=10)
    assert positions == [Position("EX 1/2", 5, 1.5, 2.5), Position("EX 1/2", 7, 1.0, 2.0, None, ("S",))]
    assert archive_server.requests == [{"identifier": "EX 1/2", "from": 5, "to": 9, "limit": 10}]
    assert client.positions("EX 1/2", 0, 100, limit=1) == [Position("EX 1/2", 5, 1.5, 2.5)]
    archive_server.mode = "newest-first"
    assert [p.timestamp for p in client.positions("EX 1/2", 0, 100, limit=2)] == [5, 7]


def test_unconfigured_client_refuses_without_calling_out():
    client = HttpArchiveClient("")
    assert client.configured is False
    with pytest.raises(ArchiveUnavailable, match="no archive is configured"):
        client.positions("EX001", 0, 1, limit=1)


def test_system_check_names_a_mistyped_archive_backend(settings):
    from telemetry_site.checks import check_backends

    settings.HISTORY_ARCHIVES = {"default": {"BACKEND": "equipment_history.archive.HttpArchiveClien", "OPTIONS": {}}}
    errors = check_backends()
    assert [error.id for error in errors] == ["telemetry.E001"]
    assert "HISTORY_ARCHIVES['default']" in errors[0].msg
