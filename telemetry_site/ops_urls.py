from django.urls import include, path

from equipment_usage import ops_views as usage_ops_views
from telemetry_site import ops_views

app_name = "ops"
urlpatterns = [
    path("", ops_views.overview, name="overview"),
    path("dead-letters/", ops_views.dead_letters, name="dead_letters"),
    path("dead-letters/<int:partition>/<int:offset>/", ops_views.dead_letter, name="dead_letter"),
    path("silent/", ops_views.silent_machines, name="silent"),
    path("repricings/", usage_ops_views.repricings, name="repricings"),
    path("connectors/", include("equipment_connectors.ops_urls")),
]
