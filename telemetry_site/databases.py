"""Opening a pymongo-compatible ``Database`` from a URI (the ``mongo`` registry's backend).

One function serves the three engines so that repositories never know which one they got:

- ``mongodb://`` / ``mongodb+srv://`` — a real MongoDB server (production, and the tests when
  ``MONGO_URI`` is set);
- ``litemongo:///absolute/path`` — litemongo's SQLite-backed store, shared by every process of the
  embedded stack and kept across restarts; each thread gets its own SQLite connections
  (``PerThreadServerStore``), so a threaded web server can use it;
- ``mongomock://`` — mongomock-ng's in-process engine (each call gets its own empty server).

PyMongo is not fork-safe: this runs inside the cached registry on first use, after any fork.
What the store's errors mean is ``stream.mongo``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from django.core.exceptions import ImproperlyConfigured


def open_database(
    uri: str,
    name: str,
    timeout_ms: int = 5000,
    *,
    operation_timeout_ms: int = 10_000,
    write_concern: str | int = "majority",
    retry_writes: bool = True,
    appname: str = "c40-telemetry",
    **client_options: Any,
) -> Any:
    """Return a pymongo ``Database`` (or an API-compatible one) for ``uri``.

    For a real server the keyword arguments are the client's defaults (docs: README, "MongoDB
    client"): an option the URI sets itself (``?w=1``, ``?appname=…``) wins over them, since pymongo
    would otherwise let the keyword override the URI. ``client_options`` are passed as they are."""
    scheme = urlparse(uri).scheme
    if scheme in ("mongodb", "mongodb+srv"):
        from pymongo import MongoClient

        defaults = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            # Client-side operation timeout (pymongo's CSOT): bounds each operation with its
            # retries, and the wait for a majority (the server's maxTimeMS and the socket's deadline
            # follow it), so losing the majority turns into a retried error instead of a hang.
            # Within it pymongo retries server selection and retryable operations as often as
            # fits, so it is also how long an API request waits for an unreachable server.
            "timeoutMS": operation_timeout_ms,
            # A number of members ("1", "2") or a mode or tag name ("majority").
            "w": int(write_concern) if str(write_concern).strip().isdigit() else write_concern,
            "retryWrites": retry_writes,
            "appname": appname,
        }
        in_uri = {key.lower() for key, _ in parse_qsl(urlparse(uri).query)}
        options: dict[str, Any] = {key: value for key, value in defaults.items() if key.lower() not in in_uri}
        options["tz_aware"] = True
        options.update(client_options)
        return MongoClient(uri, **options)[name]
    if scheme == "litemongo":
        import litemongo

        from telemetry_site.litemongo_store import PerThreadServerStore

        path = Path(uri[len("litemongo://") :])
        path.mkdir(parents=True, exist_ok=True)
        return litemongo.MongoClient(PerThreadServerStore(path))[name]
    if scheme == "mongomock":
        import mongomock_ng

        return mongomock_ng.MongoClient()[name]
    raise ImproperlyConfigured(
        f"MONGO_URI {uri!r} has an unknown scheme {scheme!r}; use mongodb://host:27017, "
        "litemongo:///absolute/path or mongomock://."
    )
