"""The ops pages of the connectors, mounted under /admin/ops/ (namespace ``ops``) by
``telemetry_site.ops_urls`` when listed in ``TELEMETRY_OPS_URLS``."""

from django.urls import path

from equipment_connectors import ops_views

urlpatterns = [
    path("connectors/unmatched/", ops_views.unmatched_machines, name="connectors_unmatched"),
]
