from django.apps import AppConfig


class EquipmentHistoryConfig(AppConfig):
    name = "equipment_history"

    def ready(self) -> None:
        from django.core import checks

        from equipment_history.checks import check_history_settings

        checks.register(check_history_settings, "history")
