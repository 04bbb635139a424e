"""``manage.py refresh_rental_statements``: issue new statement versions where closed periods changed.

Run it periodically (cron, a compose loop): late readings reach the usage ledger up to
USAGE_LATE_READING_MAX_AGE_DAYS late, and a backdated contract change takes effect here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from equipment_rentals.models import RentalContract
from equipment_rentals.publisher import RentalsPublisher
from equipment_rentals.statements import refresh


class Command(BaseCommand):
    help = "Issue a new statement version (and one Kafka event) for each contract whose closed periods changed."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--contract", type=int, action="append", help="Only these contract ids")
        parser.add_argument("--as-of", help="ISO 8601 instant to compute at (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = datetime.now(UTC)
        if options["as_of"]:
            as_of = parse_datetime(options["as_of"])
            if as_of is None:
                raise CommandError(f"--as-of {options['as_of']!r} is not an ISO 8601 instant.")
            if as_of.tzinfo is None:
                as_of = as_of.replace(tzinfo=UTC)
        contracts = RentalContract.objects.filter(on_rent__lt=as_of)
        if options["contract"]:
            contracts = contracts.filter(pk__in=options["contract"])
        issued = refresh(contracts.iterator(), as_of, RentalsPublisher())
        for version in issued:
            self.stdout.write(f"contract {version.contract_id}: issued v{version.version}")
        self.stdout.write(f"{len(issued)} statement version(s) issued")
