"""Fixtures of the history tests: the archive stand-in (``archive_stand_in.py``) and the settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from telemetry_site.backends import repositories
from tests.history.archive_stand_in import CONNECT_TIMEOUT, READ_TIMEOUT, RETENTION_DAYS, closed_port_url, serve_archive


@pytest.fixture
def archive_server():
    with serve_archive() as stand_in:
        yield stand_in


@pytest.fixture
def history(request, settings, archive_server):
    """Settings of the history service for a test: retention of ``RETENTION_DAYS``, the archive
    stand-in (or, parametrized indirectly, ``"no archive"`` / ``"refused"``), a fresh database.

    Changing a registry setting rebuilds every registry, the database included, so everything is
    set before ``mongo_db`` opens the database the test then uses.
    """
    url = {"no archive": "", "refused": closed_port_url()}.get(getattr(request, "param", None), archive_server.url)
    settings.HISTORY_ARCHIVES = {
        "default": {
            "BACKEND": "equipment_history.archive.HttpArchiveClient",
            "OPTIONS": {"url": url, "connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT},
        }
    }
    settings.TELEMETRY_REPOSITORIES = {
        **settings.TELEMETRY_REPOSITORIES,
        "positions": {
            "BACKEND": "equipment_history.repository.PositionRepository",
            "OPTIONS": {"database": "default", "collection": "positions", "retention_days": RETENTION_DAYS},
        },
    }
    database = request.getfixturevalue("mongo_db")
    return SimpleNamespace(archive=archive_server, database=database, repository=repositories["positions"])
