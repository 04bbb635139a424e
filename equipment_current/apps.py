from django.apps import AppConfig


class EquipmentCurrentConfig(AppConfig):
    name = "equipment_current"
