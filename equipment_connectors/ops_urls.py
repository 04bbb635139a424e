from django.urls import path

from equipment_connectors import ops_views

urlpatterns = [
    path("unmatched/", ops_views.unmatched_machines, name="connectors_unmatched"),
]
