from django.contrib import admin

from equipment_alerts.models import AlertRule, ReportRun, ReportSchedule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "scope", "scope_value", "threshold", "duration_minutes", "enabled")
    list_filter = ("kind", "scope", "enabled")
    search_fields = ("name", "scope_value", "site")


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "period", "kinds", "time_zone", "first_period_start", "enabled")
    list_filter = ("period", "enabled")


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    """Read-only: runs are written by ``manage.py alerts_clock``."""

    list_display = ("schedule", "period_start", "period_end", "rows", "xlsx_location", "written_at")
    readonly_fields = ("schedule", "period_start", "period_end", "csv_location", "xlsx_location", "rows", "written_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
