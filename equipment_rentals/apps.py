from django.apps import AppConfig


class EquipmentRentalsConfig(AppConfig):
    name = "equipment_rentals"
    verbose_name = "Equipment rentals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from equipment_rentals.checks import check_rentals_settings

        checks.register(check_rentals_settings, "rentals")
