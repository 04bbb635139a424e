from django.urls import path

from equipment_maintenance.views import (
    FleetMaintenanceView,
    MachineMaintenanceView,
    ServiceRecordsView,
    TemplatesView,
)

app_name = "maintenance"
# templates/ first: a machine named "templates" is shadowed by it (machine ids are upper-case codes).
urlpatterns = [
    path("", FleetMaintenanceView.as_view(), name="fleet"),
    path("templates/", TemplatesView.as_view(), name="templates"),
    path("<str:machine>/", MachineMaintenanceView.as_view(), name="machine"),
    path("<str:machine>/service-records/", ServiceRecordsView.as_view(), name="service-records"),
]
