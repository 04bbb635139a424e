from django.apps import AppConfig


class EquipmentHistoryConfig(AppConfig):
    name = "equipment_history"
