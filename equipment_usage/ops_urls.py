"""The ops pages of usage, mounted under /admin/ops/ (namespace ``ops``) by ``telemetry_site.ops_urls``
when listed in ``TELEMETRY_OPS_URLS``."""

from django.urls import path

from equipment_usage import ops_views

urlpatterns = [
    path("repricings/", ops_views.repricings, name="repricings"),
]
