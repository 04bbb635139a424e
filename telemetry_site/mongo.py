"""Opening a pymongo-compatible ``Database`` from a URI.

One function serves the three engines so that repositories never know which one they got:

- ``mongodb://`` / ``mongodb+srv://`` — a real MongoDB server (production, and the tests when
  ``MONGO_URI`` is set);
- ``litemongo:///absolute/path`` — litemongo's SQLite-backed store, shared by every process of the
  embedded stack and kept across restarts;
- ``mongomock://`` — mongomock-ng's in-process engine (each call gets its own empty server).

PyMongo is not fork-safe: this runs inside the cached registry on first use, after any fork.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured


def open_database(uri: str, name: str, timeout_ms: int = 5000, **client_options: Any) -> Any:
    """Return a pymongo ``Database`` (or an API-compatible one) for ``uri``."""
    scheme = urlparse(uri).scheme
    if scheme in ("mongodb", "mongodb+srv"):
        from pymongo import MongoClient

        options = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "tz_aware": True,
            "appname": "c40-telemetry",
        }
        options.update(client_options)
        return MongoClient(uri, **options)[name]
    if scheme == "litemongo":
        import litemongo

        path = Path(uri[len("litemongo://") :])
        path.mkdir(parents=True, exist_ok=True)
        return litemongo.connect(str(path))[name]
    if scheme == "mongomock":
        import mongomock_ng

        return mongomock_ng.MongoClient()[name]
    raise ImproperlyConfigured(
        f"MONGO_URI {uri!r} has an unknown scheme {scheme!r}; use mongodb://host:27017, "
        "litemongo:///absolute/path or mongomock://."
    )


def ping(database: Any) -> None:
    """Raise if the server behind ``database`` does not answer."""
    database.command("ping")
