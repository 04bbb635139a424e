from django.apps import AppConfig


class EquipmentRentalsConfig(AppConfig):
    name = "equipment_rentals"
    verbose_name = "Equipment rentals"
    default_auto_field = "django.db.models.BigAutoField"
