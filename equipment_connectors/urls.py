from django.urls import path

from equipment_connectors import views

urlpatterns = [
    path("", views.ConnectorListView.as_view(), name="connectors"),
    path("<str:pk>/", views.ConnectorDetailView.as_view(), name="connector"),
    path("<str:pk>/health/", views.ConnectorHealthView.as_view(), name="connector-health"),
]
