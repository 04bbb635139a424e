"""Today's date for statuses and forecasts, from one injected clock (``settings.MAINTENANCE_CLOCK``).

Views and the service layer ask ``today()``, never ``datetime.now``: a test or a demo fixes the date
by setting ``MAINTENANCE_CLOCK`` to a callable (or a dotted path to one) returning an aware datetime.
The date is taken in ``MAINTENANCE_TIME_ZONE``, the zone reading dates are cut in as well.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.module_loading import import_string


def now() -> datetime:
    clock = settings.MAINTENANCE_CLOCK
    if isinstance(clock, str):
        clock = import_string(clock)
    return clock()


def local_date(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(settings.MAINTENANCE_TIME_ZONE)).date()


def today() -> date:
    return local_date(now())


def date_of_ms(epoch_ms: int) -> date:
    """Local date of an event time (epoch milliseconds)."""
    return local_date(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC))
