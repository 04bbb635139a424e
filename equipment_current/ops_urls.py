"""The ops pages of current state, mounted under /admin/ops/ (namespace ``ops``) by
``telemetry_site.ops_urls`` when listed in ``TELEMETRY_OPS_URLS``."""

from django.urls import path

from equipment_current import ops_views

urlpatterns = [
    path("silent/", ops_views.silent_machines, name="silent"),
]
