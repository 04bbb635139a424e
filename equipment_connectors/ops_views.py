"""The ops page of machines the connectors read but the registry does not know (by PIN or serial
number): published under the maker's id (with the connector's prefix) until a registry record
with their serial number arrives. Staff only, in the admin's look like the other ops pages."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from equipment_connectors.models import UnmatchedMachine

PAGE = 500


@staff_member_required
def unmatched_machines(request: HttpRequest) -> HttpResponse:
    machines = UnmatchedMachine.objects.select_related("connector").order_by("connector__name", "machine_key")
    context = {
        **admin.site.each_context(request),
        "title": "Machines no registry entry matches",
        "machines": machines[:PAGE],
        "total": machines.count(),
        "page_limit": PAGE,
    }
    return render(request, "admin/ops/connectors_unmatched.html", context)
