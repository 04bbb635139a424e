from django.apps import AppConfig


class EquipmentConnectorsConfig(AppConfig):
    name = "equipment_connectors"
    verbose_name = "AEMP connectors"
    default_auto_field = "django.db.models.BigAutoField"
