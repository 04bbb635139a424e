from django.contrib import admin

from equipment_maintenance.models import MaintenanceTemplate, ServiceRecord, TemplateAssignment


@admin.register(MaintenanceTemplate)
class MaintenanceTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "interval_hours", "interval_days", "anchor", "due_soon_fraction")


@admin.register(TemplateAssignment)
class TemplateAssignmentAdmin(admin.ModelAdmin):
    list_display = ("machine", "template", "since")


@admin.register(ServiceRecord)
class ServiceRecordAdmin(admin.ModelAdmin):
    list_display = ("machine", "template", "hours", "date")
