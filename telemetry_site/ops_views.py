"""Ops pages in the Django admin's look: consumer lag, progress, dead letters, silent machines.

Plain Django views (they render HTML for people), staff only, wrapped in the admin's context so
they share its header, breadcrumbs and styles.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from stream import ops
from telemetry_site import backends
from telemetry_site.api import ms_to_iso

DEAD_LETTER_PAGE = 50


# Kafka's partition numbers are 32-bit, its offsets 64-bit; a larger number is no 400 from the client
# library (OverflowError) nor from MongoDB (which refuses ints beyond 8 bytes).
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1


def int_param(
    request: HttpRequest, name: str, default: int | None, minimum: int = 0, maximum: int = MAX_OFFSET
) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name} must be from {minimum} to {maximum}")
    return value


def render_ops_page(request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    progress = {doc["_id"]: doc for doc in backends.repositories["consumer_progress"].all()}
    services = []
    for group in ops.consumer_lag(backends.kafka["default"], settings.TELEMETRY_SERVICES):
        doc = progress.get(group.service, {})
        last = doc.get("last_batch") or {}
        services.append(
            {
                "lag": group,
                "progress": doc,
                "last": last,
                "last_committed_at": ms_to_iso(doc.get("last_committed_at")),
                "last_event_at": ms_to_iso(last.get("last_event_at")),
            }
        )
    return render_ops_page(request, "admin/ops/overview.html", "Telemetry operations", services=services)


@staff_member_required
def dead_letters(request: HttpRequest) -> HttpResponse:
    partition = int_param(request, "partition", 0, maximum=MAX_PARTITION)
    offset = int_param(request, "offset", None)
    letters, first = ops.read_dead_letters(
        backends.kafka["default"], settings.DEAD_LETTER_TOPIC, partition, offset, DEAD_LETTER_PAGE
    )
    next_offset = letters[-1].offset + 1 if len(letters) == DEAD_LETTER_PAGE else None
    return render_ops_page(
        request,
        "admin/ops/dead_letters.html",
        f"Dead letters — {settings.DEAD_LETTER_TOPIC}",
        letters=[(letter, ms_to_iso(letter.timestamp)) for letter in letters],
        partition=partition,
        first=first,
        next_offset=next_offset,
        topic=settings.DEAD_LETTER_TOPIC,
    )


@staff_member_required
def dead_letter(request: HttpRequest, partition: int, offset: int) -> HttpResponse:
    if partition > MAX_PARTITION or offset > MAX_OFFSET:
        raise Http404(f"No dead letter at partition {partition}, offset {offset}.")
    letters, _ = ops.read_dead_letters(backends.kafka["default"], settings.DEAD_LETTER_TOPIC, partition, offset, 1)
    if not letters or letters[0].offset != offset:
        raise Http404(f"No dead letter at partition {partition}, offset {offset}.")
    letter = letters[0]
    return render_ops_page(
        request,
        "admin/ops/dead_letter.html",
        f"Dead letter {partition}/{offset}",
        letter=letter,
        failed_at=ms_to_iso(int(letter.headers["dlq.failed_at"])) if "dlq.failed_at" in letter.headers else None,
    )
