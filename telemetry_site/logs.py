"""Structured logs: one JSON object per line (``LOG_FORMAT=json``), for log shippers.

Each line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the fields a call
passed in ``extra`` (a consumer's batch line: ``service``, ``batch``, ``partitions``,
``messages``, ``processed``, ``dead_lettered``, ``duration_ms``), the fields bound to the process
(``bind``: a consumer command binds its ``service``, so its warnings carry it too) and, for an
exception, its ``exception`` text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# What every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_bound: dict[str, Any] = {}


def bind(**fields: Any) -> None:
    """Add ``fields`` to every JSON line this process writes from now on (``None`` removes one)."""
    for name, value in fields.items():
        if value is None:
            _bound.pop(name, None)
        else:
            _bound[name] = value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_bound,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # default=str: an extra field of any type still yields a line rather than a logging error.
        return json.dumps(line, default=str, ensure_ascii=False)
