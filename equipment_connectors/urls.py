from django.urls import path

from equipment_connectors import views

urlpatterns = [
    path("", views.ConnectorListView.as_view(), name="connectors"),
    path("<int:pk>/", views.ConnectorDetailView.as_view(), name="connector"),
    path("<int:pk>/health/", views.ConnectorHealthView.as_view(), name="connector-health"),
]
