from django.urls import path

from equipment_maintenance.views import TemplatesView

app_name = "maintenance"
urlpatterns = [
    path("templates/", TemplatesView.as_view(), name="templates"),
]
