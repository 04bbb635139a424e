"""The utilisation page, mounted under /admin/ops/ (namespace ``ops``) by ``telemetry_site.ops_urls``."""

from django.urls import path

from equipment_utilisation import ops_views

urlpatterns = [
    path("utilisation/", ops_views.utilisation, name="utilisation"),
]
