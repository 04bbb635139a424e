from django.urls import path

from equipment_rentals.views import ContractsView, ContractView, ExportView, MeterReadingsView, StatementView

app_name = "rentals"
urlpatterns = [
    path("", ContractsView.as_view(), name="contracts"),
    path("export/", ExportView.as_view(), name="export"),
    path("meter-readings/", MeterReadingsView.as_view(), name="meter-readings"),
    path("<str:pk>/", ContractView.as_view(), name="contract"),
    path("<str:pk>/statement/", StatementView.as_view(), name="statement"),
]
