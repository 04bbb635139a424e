"""Maintenance templates, their assignment to machines and the service history (issue 30)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class MaintenanceTemplate(models.Model):
    """One plan (a tier is one template): due every ``interval_hours`` or ``interval_days``."""

    class Anchor(models.TextChoices):
        LAST_SERVICE = "last_service"
        SCHEDULE = "schedule"

    name = models.CharField(max_length=120, unique=True)
    interval_hours = models.FloatField(validators=[MinValueValidator(0.001)])
    interval_days = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    first_due_hours = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    anchor = models.CharField(max_length=20, choices=Anchor.choices, default=Anchor.LAST_SERVICE)
    due_soon_fraction = models.FloatField(default=0.10, validators=[MinValueValidator(0), MaxValueValidator(1)])
    applies_to_model = models.CharField(max_length=120, blank=True, help_text="equipment model, or empty")
    applies_to_class = models.CharField(max_length=120, blank=True, help_text="machine class, or empty")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(interval_hours__gt=0), name="maintenance_interval_hours_positive"),
            models.CheckConstraint(
                condition=Q(interval_days__isnull=True) | Q(interval_days__gt=0),
                name="maintenance_interval_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TemplateAssignment(models.Model):
    """A template applied to one machine (by its identifier)."""

    template = models.ForeignKey(MaintenanceTemplate, on_delete=models.CASCADE, related_name="assignments")
    machine = models.CharField(max_length=120, db_index=True)
    # Day intervals count from here until the first service (without it, only after one).
    since = models.DateField(null=True, blank=True, help_text="plan start, for interval days before any service")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "machine"], name="maintenance_assignment_once")]


class ServiceRecord(models.Model):
    """A service done on a machine for a template, at engine hours and a date."""

    machine = models.CharField(max_length=120, db_index=True)
    template = models.ForeignKey(MaintenanceTemplate, on_delete=models.PROTECT, related_name="services")
    hours = models.FloatField(validators=[MinValueValidator(0)])
    date = models.DateField()
    note = models.TextField(blank=True)
