from django.apps import AppConfig


class EquipmentAlertsConfig(AppConfig):
    name = "equipment_alerts"
    verbose_name = "Equipment alerts"
    default_auto_field = "django.db.models.BigAutoField"
