"""Connectors to other makers' ISO 15143-3 feeds, their status, and the machines no registry entry matched.

Secrets (client secret, password, refresh token, and the access token the runner obtains) are
stored here to be sent to the maker; nothing reads them back out: the API's serializers declare
them write-only and the admin's form shows an empty password field (docs/CONNECTORS.md).
"""

from __future__ import annotations

import urllib.parse

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from equipment_connectors import auth

AUTH_CHOICES = [
    (auth.CLIENT_CREDENTIALS, "OAuth2 client credentials"),
    (auth.REFRESH_TOKEN, "OAuth2 refresh token"),
    (auth.PASSWORD, "OAuth2 password grant"),
    (auth.BASIC, "HTTP Basic"),
    (auth.NONE, "None"),
]
SECRET_FIELDS = ("client_secret", "password", "refresh_token")
DEFAULT_POLL_SECONDS = 900
DEFAULT_REQUEST_BUDGET = 2000


class Connector(models.Model):
    name = models.CharField(max_length=100, unique=True)
    maker = models.CharField(max_length=100, help_text="The maker, as in the dedup key, e.g. Komatsu.")
    base_url = models.URLField(max_length=500, help_text="e.g. https://api.example.com/aemp/v2/15143/-3")
    fleet_path = models.CharField(
        max_length=200, default="Fleet/1", help_text="The first page, relative to the base URL (Fleet/0 for Takeuchi)."
    )
    format = models.CharField(max_length=4, choices=[("xml", "XML"), ("json", "JSON")], default="xml")
    auth_type = models.CharField(max_length=40, choices=AUTH_CHOICES, default=auth.CLIENT_CREDENTIALS)
    token_url = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    client_secret = models.CharField(max_length=500, blank=True)
    username = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=500, blank=True)
    refresh_token = models.CharField(max_length=2000, blank=True)
    scope = models.CharField(max_length=200, blank=True)
    poll_seconds = models.PositiveIntegerField(
        default=DEFAULT_POLL_SECONDS, validators=[MinValueValidator(60), MaxValueValidator(86_400)]
    )
    request_budget = models.PositiveIntegerField(
        default=DEFAULT_REQUEST_BUDGET,
        validators=[MinValueValidator(1), MaxValueValidator(10_000_000)],
        help_text="Requests a day (UTC) to the maker, token requests and retries included.",
    )
    identifier_prefix = models.CharField(
        max_length=40, blank=True, help_text="Prepended to the identifier of machines the registry does not know."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.maker})"

    @property
    def first_url(self) -> str:
        return urllib.parse.urljoin(self.base_url.rstrip("/") + "/", self.fleet_path.lstrip("/"))

    def credentials(self) -> auth.Credentials:
        return auth.Credentials(
            kind=self.auth_type,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            refresh_token=self.refresh_token,
            scope=self.scope,
        )


class ConnectorStatus(models.Model):
    """What the runner knows of a connector: schedule, resumable walk, token, counters."""

    connector = models.OneToOneField(Connector, on_delete=models.CASCADE, primary_key=True, related_name="status")
    next_poll_at = models.DateTimeField(null=True, blank=True)
    resume_url = models.URLField(max_length=2000, blank=True)  # a suspended walk's next page
    # The suspended walk: pages read (URLs) and its counts so far.
    resume_state = models.JSONField(default=dict, blank=True)
    failures = models.PositiveIntegerField(default=0)
    access_token = models.CharField(max_length=4000, blank=True)
    token_expires_at = models.FloatField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)  # of the last complete poll
    machines = models.PositiveIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    messages_total = models.PositiveBigIntegerField(default=0)
    budget_day = models.DateField(null=True, blank=True)
    budget_used = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"status of {self.connector}"


class UnmatchedMachine(models.Model):
    """A machine of a connector's feed whose PIN and serial number match no registry entry."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="unmatched")
    machine_key = models.CharField(max_length=200)
    pin = models.CharField(max_length=200, blank=True)
    serial_number = models.CharField(max_length=200, blank=True)
    equipment_id = models.CharField(max_length=200, blank=True)
    oem = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    published_as = models.CharField(max_length=300)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["connector", "machine_key"]
        constraints = [models.UniqueConstraint(fields=["connector", "machine_key"], name="unmatched_once")]

    def __str__(self) -> str:
        return f"{self.machine_key} of {self.connector}"
