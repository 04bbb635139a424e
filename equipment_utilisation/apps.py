from django.apps import AppConfig


class EquipmentUtilisationConfig(AppConfig):
    name = "equipment_utilisation"
    verbose_name = "Equipment utilisation"

    def ready(self) -> None:
        from django.core import checks

        from equipment_utilisation.checks import check_utilisation_settings

        checks.register(check_utilisation_settings, "utilisation")
