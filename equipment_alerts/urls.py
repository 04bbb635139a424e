from django.urls import path

from equipment_alerts.views import AcknowledgeView, AlertsView, RulesView

app_name = "alerts"
urlpatterns = [
    path("alert-rules/", RulesView.as_view(), name="rules"),
    path("alerts/", AlertsView.as_view(), name="alerts"),
    path("alerts/<str:alert_id>/ack/", AcknowledgeView.as_view(), name="acknowledge"),
]
