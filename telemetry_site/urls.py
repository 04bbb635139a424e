from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from telemetry_site.api_docs import LocalRedocView
from telemetry_site.health import HealthView, ReadyView
from telemetry_site.home import home
from telemetry_site.http_metrics import metrics_view

urlpatterns = [
    path("", home, name="home"),
    path("health", HealthView.as_view(), name="health"),
    path("ready", ReadyView.as_view(), name="ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/current/", include("equipment_current.urls")),
    path("api/v1/history/", include("equipment_history.urls")),
    path("api/v1/usage/", include("equipment_usage.urls")),
    path("api/v1/connectors/", include("equipment_connectors.urls")),
    path("api/v1/rentals/", include("equipment_rentals.urls")),
    path("api/v1/utilisation/", include("equipment_utilisation.urls")),
    path("api/v1/maintenance/", include("equipment_maintenance.urls")),
    path("api/v1/", include("equipment_alerts.urls")),  # alert-rules/ and alerts/
    path("aemp/v2/15143/-3/", include("equipment_current.aemp.urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]), name="docs"),
    path("api/redoc/", LocalRedocView.as_view(url_name="schema", permission_classes=[AllowAny]), name="redoc"),
    path("admin/ops/", include("telemetry_site.ops_urls")),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
]
