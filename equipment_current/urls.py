from django.urls import path

from equipment_current.views import FleetSnapshotView, MachineStateView

app_name = "current"
urlpatterns = [
    path("", FleetSnapshotView.as_view(), name="fleet"),
    path("<str:identifier>/", MachineStateView.as_view(), name="machine"),
]
