"""The ops page of rate changes: which registry versions re-priced stored usage, and which reached
further back than ``USAGE_REPRICE_MAX_AGE_DAYS`` (stored, reported, not applied there). Staff only,
in the admin's look like the other ops pages; it reads ``usage_repricings`` (one query)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from telemetry_site import backends
from telemetry_site.api import ms_to_iso

REPRICINGS_PAGE = 200


@staff_member_required
def repricings(request: HttpRequest) -> HttpResponse:
    reports = backends.repositories["usage"].find_repricings(REPRICINGS_PAGE)  # newest first
    rows = [
        {
            **report,
            "version_at": ms_to_iso(report["last_update"]),
            "governs_to": ms_to_iso(report.get("governs_to")),
            "refused_before": ms_to_iso(report.get("refused_before")),
            "logged_at": ms_to_iso(report.get("logged_at")),
        }
        for report in reports
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Rate changes",
        "reports": rows,
        "refused": sum(1 for report in reports if report.get("refused_before") is not None),
        "page_limit": REPRICINGS_PAGE,
        "max_age_days": settings.USAGE_REPRICE_MAX_AGE_DAYS,
    }
    return render(request, "admin/ops/repricings.html", context)
