from django.contrib import admin

from equipment_rentals.models import RentalContract, RentalStatement


@admin.register(RentalContract)
class RentalContractAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_ref", "machine", "on_rent", "off_rent", "basis", "base_rate", "currency", "pooled")
    list_filter = ("basis", "pooled", "currency")
    search_fields = ("customer_ref", "machine", "serial")


@admin.register(RentalStatement)
class RentalStatementAdmin(admin.ModelAdmin):
    """Read-only: versions are issued by ``manage.py refresh_rental_statements``, never edited."""

    list_display = ("contract", "version", "issued_at", "event_id")
    readonly_fields = ("contract", "version", "event_id", "issued_at", "lines", "totals", "delta_lines")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
