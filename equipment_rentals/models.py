"""Rental contracts and their issued statement versions (the project's SQL database)."""

from __future__ import annotations

from django.db import models

from equipment_rentals.business_periods import BASES


class RentalContract(models.Model):
    """One machine rented to one customer from on-rent to off-rent (None: still on rent)."""

    customer_ref = models.CharField(max_length=100)
    machine = models.CharField(max_length=200, db_index=True, help_text="The machine's telemetry identifier")
    serial = models.CharField(max_length=100, blank=True)
    on_rent = models.DateTimeField()
    off_rent = models.DateTimeField(null=True, blank=True)
    basis = models.CharField(max_length=5, choices=[(basis, basis) for basis in BASES])
    base_rate = models.DecimalField(max_digits=14, decimal_places=2, help_text="Per period of the basis")
    currency = models.CharField(max_length=3, help_text="ISO 4217")
    allowance_hours = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Per period; empty: 8/40/176 h by basis"
    )
    period_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Custom period length in days (e.g. 28); empty: the basis's calendar"
    )
    overtime_factor = models.DecimalField(max_digits=6, decimal_places=3, default=1)
    shift_multiplier = models.PositiveSmallIntegerField(
        default=1, choices=[(1, "single"), (2, "double"), (3, "triple")]
    )
    pooled = models.BooleanField(default=False, help_text="Allowance pooled over the contract, not per period")
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: RENTALS_TIME_ZONE")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.customer_ref} / {self.machine} from {self.on_rent:%Y-%m-%d}"

    def clean(self) -> None:
        """The API's rules for the admin form too (overlap, off-rent, currency)."""
        from django.core.exceptions import ValidationError

        from equipment_rentals.validation import currency_problem, period_problems

        problems = period_problems(type(self).objects.all(), self.machine, self.on_rent, self.off_rent, self.pk)
        currency = currency_problem(self.currency)
        if currency:
            problems["currency"] = currency
        if problems:
            raise ValidationError(problems)


class RentalStatement(models.Model):
    """An issued version of a contract's statement (closed periods only); never rewritten."""

    # PROTECT: a contract with issued statements cannot be deleted (they were billed and announced).
    contract = models.ForeignKey(RentalContract, on_delete=models.PROTECT, related_name="statements")
    version = models.PositiveIntegerField()
    event_id = models.CharField(max_length=40, help_text="Of the Kafka event that announced it")
    issued_at = models.DateTimeField(auto_now_add=True)
    lines = models.JSONField(help_text="One per closed period, amounts as decimal strings")
    totals = models.JSONField()
    delta_lines = models.JSONField(default=list, help_text="Changes from the previous version")

    class Meta:
        ordering = ["contract_id", "version"]
        constraints = [models.UniqueConstraint(fields=["contract", "version"], name="rental_statement_version")]

    def __str__(self) -> str:
        return f"statement v{self.version} of contract {self.contract_id}"
