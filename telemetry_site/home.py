"""The landing page at ``/``: what this is and where to go (the admin's "View site" links here)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """Links to the API, its docs, the ops views and health; reads nothing, so it always answers."""
    return render(request, "telemetry_site/home.html", {**admin.site.each_context(request), "title": "Home"})
