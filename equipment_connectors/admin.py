"""Admin of the connectors. Secrets are write-only here too: their fields render empty (a
password input that never shows its value) and a field left empty keeps the stored secret."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models

from equipment_connectors.models import SECRET_FIELDS, Connector, ConnectorStatus, UnmatchedMachine


def formfield(field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"  # Django 6's default, said now (no deprecation warning)
    return field.formfield(**kwargs)


class ConnectorForm(forms.ModelForm):
    class Meta:
        model = Connector
        fields = "__all__"
        formfield_callback = formfield
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRET_FIELDS}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.fields[name].required = False
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = "Set. Leave empty to keep it; type a new value to replace it."

    def clean(self) -> dict:
        data = super().clean()
        for name in SECRET_FIELDS:
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(Connector.objects.get(pk=self.instance.pk), name)
        return data


URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


class StatusInline(admin.StackedInline):
    model = ConnectorStatus
    formfield_overrides = URL_FIELDS
    can_delete = False
    exclude = ("access_token", "resume_state")
    readonly_fields = [f.name for f in ConnectorStatus._meta.fields if f.name not in ("access_token", "resume_state")]


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorForm
    formfield_overrides = URL_FIELDS
    list_display = ("name", "maker", "base_url", "auth_type", "poll_seconds", "enabled")
    list_filter = ("maker", "enabled", "auth_type")
    inlines = [StatusInline]


@admin.register(UnmatchedMachine)
class UnmatchedMachineAdmin(admin.ModelAdmin):
    list_display = ("machine_key", "connector", "pin", "serial_number", "published_as", "last_seen")
    list_filter = ("connector",)
    search_fields = ("machine_key", "pin", "serial_number", "equipment_id")
