from django.apps import AppConfig


class DevstackConfig(AppConfig):
    name = "devstack"
    verbose_name = "Embedded development stack"
