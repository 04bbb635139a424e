"""``manage.py aemp_pull URL``: read an ISO 15143-3 (AEMP 2.0) feed to its last page (docs/AEMP.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from equipment_current.aemp.client import MEDIA_TYPES, FeedError, pull, urllib_fetch


def header(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator or not name.strip():
        raise CommandError(f"--header {text!r}: expected 'Name: value'.")
    return name.strip(), value.strip()


class Command(BaseCommand):
    help = (
        "Read an ISO 15143-3 (AEMP 2.0) feed from URL (a Fleet page or a time series), following its "
        "'next' links to the last page, and write one JSON line per record ({element: value}) to stdout "
        "or --output."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("url", help="the first page, e.g. https://host/aemp/v2/15143/-3/Fleet/1")
        parser.add_argument("--format", choices=sorted(MEDIA_TYPES), default="xml", help="what to ask for (Accept)")
        parser.add_argument("--token", help="send 'Authorization: Token TOKEN' (this backend's API tokens)")
        parser.add_argument(
            "--header", action="append", default=[], type=str, help="an extra header 'Name: value' (repeatable)"
        )
        parser.add_argument("--output", help="write the JSON lines to this file instead of stdout")
        parser.add_argument("--max-pages", type=int, default=10_000, help="give up after this many pages")
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")

    def handle(self, *args: Any, **options: Any) -> None:
        headers = dict(header(text) for text in options["header"])
        if options["token"]:
            headers["Authorization"] = f"Token {options['token']}"
        if options["max_pages"] < 1:
            raise CommandError("--max-pages must be at least 1.")
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else self.stdout  # noqa: SIM115
        pages = records = 0
        root = None
        try:
            for page in pull(
                options["url"], urllib_fetch(options["timeout"]), options["format"], headers, options["max_pages"]
            ):
                pages += 1
                root = root or page.root
                for element, value in page.records():
                    out.write(json.dumps({element: value}, ensure_ascii=False) + "\n")
                    records += 1
        except FeedError as error:
            raise CommandError(f"{error} (after {pages} pages; a 401 needs --token or --header).") from error
        finally:
            if out is not self.stdout:
                out.close()
        self.stderr.write(f"Read {records} records from {pages} pages{f' of {root}' if root else ''}.")
