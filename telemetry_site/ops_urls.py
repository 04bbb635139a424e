"""/admin/ops/: the project's pages (consumers, dead letters) and every app's, in namespace ``ops``.

An app owns its ops views and lists its URL module in ``TELEMETRY_OPS_URLS`` (a module with
``urlpatterns``); Django reads them when it loads the URLconf, so the project imports no app.
"""

from importlib import import_module

from django.conf import settings
from django.urls import path

from telemetry_site import ops_views

app_name = "ops"
urlpatterns = [
    path("", ops_views.overview, name="overview"),
    path("dead-letters/", ops_views.dead_letters, name="dead_letters"),
    path("dead-letters/<int:partition>/<int:offset>/", ops_views.dead_letter, name="dead_letter"),
]
for module in settings.TELEMETRY_OPS_URLS:
    urlpatterns += import_module(module).urlpatterns
