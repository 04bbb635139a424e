from django.urls import path

from equipment_history.views import PositionHistoryView, TodayLocationsView

app_name = "history"
urlpatterns = [
    # Before <identifier>/, so that no machine can shadow it.
    path("locations/today/", TodayLocationsView.as_view(), name="today"),
    path("<str:identifier>/", PositionHistoryView.as_view(), name="positions"),
]
