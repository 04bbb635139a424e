"""The ops page of silent machines: the fleet's machines that sent nothing for ``minutes``. Staff
only, in the admin's look like the other ops pages; listed under /admin/ops/ by
``equipment_current.ops_urls`` (``TELEMETRY_OPS_URLS``)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse

from equipment_current.repository import FleetFilter
from telemetry_site import backends
from telemetry_site.api import ms_to_iso
from telemetry_site.ops_views import int_param, render_ops_page

SILENT_PAGE = 200
MAX_SILENT_MINUTES = 10_000_000  # 19 years, as the API's stale_minutes


@staff_member_required
def silent_machines(request: HttpRequest) -> HttpResponse:
    minutes = int_param(request, "minutes", settings.CURRENT_STALE_MINUTES, minimum=1, maximum=MAX_SILENT_MINUTES)
    now = int(time.time() * 1000)
    repository = backends.repositories["current_state"]
    filters = FleetFilter(stale_before=now - minutes * 60_000)
    machines = [
        {
            "identifier": state["_id"],
            "last_event_at": ms_to_iso(state.get("last_event_at")),
            "silent_minutes": (now - state["last_event_at"]) // 60_000 if state.get("last_event_at") else None,
            "brand": (state.get("description") or {}).get("brand"),
            "model": (state.get("description") or {}).get("model"),
            "address": (state.get("position") or {}).get("address"),
        }
        for state in repository.find(filters, 0, SILENT_PAGE)
    ]
    return render_ops_page(
        request,
        "admin/ops/silent.html",
        f"Machines silent for more than {minutes} minutes",
        machines=machines,
        total=repository.count(filters),
        minutes=minutes,
        page_limit=SILENT_PAGE,
    )
