"""Alert rules and report schedules (the project's SQL database). Alerts themselves live in
MongoDB (repository.py): the consumer writes them per batch, next to its machine windows."""

from __future__ import annotations

from django.db import models

from equipment_alerts.business import KINDS, SCOPES

PERIODS = ("day", "week", "month")


class AlertRule(models.Model):
    """One configured rule: a kind, a scope, and the thresholds that differ from the kind's
    defaults (empty: the default of docs/ALERTS.md)."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=[(kind, kind) for kind in KINDS])
    scope = models.CharField(max_length=10, choices=[(scope, scope) for scope in SCOPES], default="fleet")
    scope_value = models.CharField(
        max_length=200, blank=True, help_text="The site, machine class (model) or machine identifier; empty for fleet"
    )
    threshold = models.FloatField(
        null=True, blank=True, help_text="In the kind's unit (docs/ALERTS.md); empty: default"
    )
    duration_minutes = models.FloatField(null=True, blank=True, help_text="Grace, span or merge gap; empty: default")
    site = models.CharField(
        max_length=200, blank=True, help_text="site_exit: the assigned site (site scope: the scope's)"
    )
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA name; empty: ALERTS_TIME_ZONE")
    shift_start = models.TimeField(null=True, blank=True, help_text="after_hours; empty: 07:00")
    shift_end = models.TimeField(null=True, blank=True, help_text="after_hours; empty: 18:00")
    shift_weekdays = models.JSONField(default=list, blank=True, help_text="0 = Monday; empty: Monday to Friday")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold__isnull=True) | models.Q(threshold__gte=0), name="alert_rule_threshold"
            ),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__isnull=True) | models.Q(duration_minutes__gte=0),
                name="alert_rule_duration",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.scope} {self.scope_value})".strip()

    def clean(self) -> None:
        """The API's refusals for the admin form too: an unknown time zone, a scope without its value."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from django.core.exceptions import ValidationError

        problems: dict[str, str] = {}
        if self.time_zone:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems["time_zone"] = f"Unknown time zone {self.time_zone[:64]!r}; an IANA name such as Europe/Rome."
        if self.scope != "fleet" and not self.scope_value:
            problems["scope_value"] = f"Required for the {self.scope} scope."
        if problems:
            raise ValidationError(problems)

    @property
    def key(self) -> str:
        """How alerts name the rule (alert id = hash(machine, key, start))."""
        return f"rule:{self.pk}"


class ReportSchedule(models.Model):
    """A rule set (kinds; empty: every kind) reported per calendar period, in local time."""

    name = models.CharField(max_length=100)
    kinds = models.JSONField(default=list, blank=True, help_text="Rule kinds reported; empty: all")
    period = models.CharField(max_length=5, choices=[(period, period) for period in PERIODS])
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA name; empty: ALERTS_TIME_ZONE")
    first_period_start = models.DateField(help_text="Local date; periods before it are not reported")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.period})"


class ReportRun(models.Model):
    """A written report: once per schedule and period, so that running the clock again writes
    nothing twice."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="runs")
    period_start = models.DateField()
    period_end = models.DateField(help_text="Exclusive")
    csv_location = models.CharField(max_length=500)
    xlsx_location = models.CharField(max_length=500)
    rows = models.PositiveIntegerField()
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schedule_id", "period_start"]
        constraints = [models.UniqueConstraint(fields=["schedule", "period_start"], name="report_run_period")]

    def __str__(self) -> str:
        return f"{self.schedule} {self.period_start}"
