from django.urls import path

from equipment_utilisation.views import TimelineView, UtilisationView

app_name = "utilisation"
urlpatterns = [
    path("", UtilisationView.as_view(), name="search"),
    path("<str:machine>/timeline/", TimelineView.as_view(), name="timeline"),
]
