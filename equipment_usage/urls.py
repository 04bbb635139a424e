from django.urls import path

from equipment_usage.views import LastDataView, MachineDeltasView, UsageSearchView

app_name = "usage"
urlpatterns = [
    path("search/", UsageSearchView.as_view(), name="search"),
    path("debug/lastdata/", LastDataView.as_view(), name="lastdata"),
    path("<str:identifier>/deltas/", MachineDeltasView.as_view(), name="deltas"),
]
