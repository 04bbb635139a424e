from django.apps import AppConfig


class EquipmentUsageConfig(AppConfig):
    name = "equipment_usage"

    def ready(self) -> None:
        from django.core import checks

        from equipment_usage.checks import check_usage_settings

        checks.register(check_usage_settings, "usage")
