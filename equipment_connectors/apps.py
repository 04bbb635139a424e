from django.apps import AppConfig


class EquipmentConnectorsConfig(AppConfig):
    name = "equipment_connectors"
    verbose_name = "AEMP connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.checks import register

        from equipment_connectors.checks import check_connector_settings

        register(check_connector_settings)
