"""Routes of the AEMP API, included at ``aemp/v2/15143/-3/`` (docs/AEMP.md)."""

from django.urls import path

from equipment_current.aemp.views import (
    CumulativeOperatingHoursView,
    DistanceView,
    EquipmentView,
    FleetView,
    LocationsView,
    UnknownElementView,
)

app_name = "aemp"
SERIES = "Fleet/Equipment/ID/<str:id>/{element}/<str:startDateUTC>/<str:endDateUTC>/<str:page>"
urlpatterns = [
    path("Fleet/<str:page>", FleetView.as_view(), name="fleet"),
    path("Fleet/Equipment/ID/<str:id>", EquipmentView.as_view(), name="equipment"),
    path(SERIES.format(element="Locations"), LocationsView.as_view(), name="locations"),
    path(
        SERIES.format(element="CumulativeOperatingHours"),
        CumulativeOperatingHoursView.as_view(),
        name="cumulative-operating-hours",
    ),
    path(SERIES.format(element="Distance"), DistanceView.as_view(), name="distance"),
    path(SERIES.format(element="<str:element>"), UnknownElementView.as_view(), name="unknown-element"),
]
