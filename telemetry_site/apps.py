from django.apps import AppConfig


class TelemetrySiteConfig(AppConfig):
    name = "telemetry_site"
    verbose_name = "Telemetry"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import setting_changed

        from telemetry_site import backends
        from telemetry_site.checks import check_backends, check_observability

        setting_changed.connect(backends.reset_backends, dispatch_uid="telemetry_site.reset_backends")
        checks.register(check_backends, "telemetry")
        checks.register(check_observability, "telemetry")
