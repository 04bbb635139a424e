from django.apps import AppConfig


class EquipmentMaintenanceConfig(AppConfig):
    name = "equipment_maintenance"
    default_auto_field = "django.db.models.BigAutoField"
