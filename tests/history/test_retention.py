"""Retention: the system check against MongoDB's TTL limit, and the sweep of the embedded stores."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from equipment_history.business import MS_PER_DAY, Position
from equipment_history.checks import check_history_settings
from equipment_history.management.commands.expire_positions import sweep_expired_positions
from equipment_history.repository import MAX_RETENTION_DAYS, MONGODB_MAX_TTL_SECONDS
from telemetry_site.backends import repositories
from tests.processes import real_mongo_uri

NOW = int(time.time() * 1000)


def positions_with(settings, retention_days) -> None:
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "retention_days": retention_days},
        },
    }


def test_the_limit_is_mongodbs_largest_expire_after_seconds():
    assert MONGODB_MAX_TTL_SECONDS == 2**31 - 1
    assert MAX_RETENTION_DAYS == 24_855
    assert MAX_RETENTION_DAYS * 86_400 <= MONGODB_MAX_TTL_SECONDS < (MAX_RETENTION_DAYS + 1) * 86_400


@pytest.mark.parametrize("days", [0, 1, 30, MAX_RETENTION_DAYS])
def test_a_retention_mongodb_accepts_passes_the_check(settings, days):
    positions_with(settings, days)
    assert check_history_settings() == []


@pytest.mark.parametrize(
    ("days", "says"),
    [
        (MAX_RETENTION_DAYS + 1, "above MongoDB's TTL limit of 2,147,483,647 s"),
        (30_000, "30000 days is 2,592,000,000 s"),
        (-1, "is not a whole number of days >= 0"),
        ("30", "is not a whole number of days >= 0"),
        (1.5, "is not a whole number of days >= 0"),
    ],
)
def test_a_retention_mongodb_would_refuse_fails_the_check_with_the_fix(settings, days, says):
    positions_with(settings, days)
    [error] = check_history_settings()
    assert error.id == "history.E001"
    assert "TELEMETRY_REPOSITORIES['positions']['OPTIONS']['retention_days']" in error.msg and says in error.msg
    assert f"at most {MAX_RETENTION_DAYS}" in error.hint or "number of days" in error.hint
    assert "0 to keep positions forever" in error.hint.replace("\n", " ")


def test_manage_py_check_runs_it(settings):
    positions_with(settings, MAX_RETENTION_DAYS + 1)
    with pytest.raises(SystemCheckError, match=r"history\.E001"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_the_sweep_command_deletes_what_is_past_the_retention(settings, mongo_db):
    if real_mongo_uri():
        pytest.skip("a real server expires by its TTL index; the command has nothing to do there")
    positions_with(settings, 2)
    repository = repositories["positions"]
    repository.insert([Position("EX001", NOW - 3 * MS_PER_DAY, 45.0, 9.0), Position("EX001", NOW, 45.0, 9.0)])
    out = StringIO()
    call_command("expire_positions", stdout=out)
    assert "expired 1 positions older than 2 days" in out.getvalue()
    assert [p.timestamp for p in repository.between("EX001", 0, NOW + 1, 10)] == [NOW]


def test_the_sweep_command_has_nothing_to_do_when_nothing_expires(settings, mongo_db):
    positions_with(settings, 0)
    repositories["positions"].insert([Position("EX001", 1000, 45.0, 9.0)])
    out = StringIO()
    call_command("expire_positions", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert mongo_db.positions.count_documents({}) == 1
    with pytest.raises(CommandError, match="--every must be > 0"):
        call_command("expire_positions", "--every", "0")


class CountingRepository:
    retention_days = 7

    def __init__(self, stop: threading.Event, sweeps_before_stop: int) -> None:
        self.calls: list[int] = []
        self.stop, self.sweeps_before_stop = stop, sweeps_before_stop

    def delete_expired(self, now_ms: int) -> int:
        self.calls.append(now_ms)
        if len(self.calls) == self.sweeps_before_stop:
            self.stop.set()
        return 2


def test_the_periodic_sweep_repeats_until_stopped_and_reports_each_pass():
    stop = threading.Event()
    repository = CountingRepository(stop, sweeps_before_stop=3)
    lines: list[str] = []
    assert sweep_expired_positions(repository, 0.01, stop, lines.append, clock=lambda: 1234.5) == 6
    assert repository.calls == [1_234_500] * 3
    assert len(lines) == 3 and lines[0].startswith("expired 2 positions older than 7 days in ")
    once = CountingRepository(threading.Event(), sweeps_before_stop=0)
    assert sweep_expired_positions(once, None, once.stop, lines.append) == 2 and len(once.calls) == 1
