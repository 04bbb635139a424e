from django.apps import AppConfig


class EquipmentUsageConfig(AppConfig):
    name = "equipment_usage"
