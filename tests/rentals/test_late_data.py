"""Generated usage, delivered late and out of order: the issued statement ends equal to the one
from the sorted stream, and every change came as a new version with one event."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from equipment_rentals.models import RentalContract, RentalStatement
from equipment_rentals.statements import compute, refresh
from equipment_usage.business_ledger import Reading
from tests.properties import property_settings
from tests.rentals.fleet import RecordingPublisher, feed, ms

pytestmark = pytest.mark.django_db
START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 6
AS_OF = START + timedelta(days=DAYS + 1)
H = 3_600_000


@st.composite
def streams(draw):
    """Hourly readings (quarter-hour increments: sums are exact in binary), some missing (gaps),
    and the order they arrive in: a random part held back and delivered late, shuffled."""
    busy = draw(st.lists(st.sampled_from([0, 0.25, 0.5, 0.75, 1.0]), min_size=DAYS * 24, max_size=DAYS * 24))
    kept = draw(st.lists(st.booleans(), min_size=len(busy), max_size=len(busy)))
    meter, readings = 500.0, [Reading("EX1", ms(START), 500.0, None)]
    for hour, (used, present) in enumerate(zip(busy, kept, strict=True), start=1):
        meter += used
        if present or hour == len(busy):
            readings.append(Reading("EX1", ms(START) + hour * H, meter, None))
    middle = range(1, len(readings) - 1)
    late = draw(st.lists(st.sampled_from(middle), unique=True, max_size=40)) if middle else []
    on_time = [r for i, r in enumerate(readings) if i not in set(late)]
    return readings, on_time, draw(st.permutations([readings[i] for i in late]))


@property_settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(streams(), st.booleans())
def test_late_readings_end_in_the_statement_of_the_sorted_stream(mongo_db, stream, pooled):
    readings, on_time, late = stream
    mongo_db["usage_deltas"].delete_many({})
    mongo_db["usage_last_readings"].delete_many({})
    RentalStatement.objects.all().delete()
    RentalContract.objects.all().delete()
    rental = RentalContract.objects.create(
        customer_ref="C",
        machine="EX1",
        on_rent=START,
        off_rent=START + timedelta(days=DAYS),
        basis="day",
        base_rate=Decimal(640),
        currency="EUR",
        pooled=pooled,
    )
    publisher = RecordingPublisher()
    feed(on_time)
    issued = refresh([rental], AS_OF, publisher)
    for first in range(0, len(late), 7):
        feed(late[first : first + 7])
        issued += refresh([rental], AS_OF, publisher)
    assert refresh([rental], AS_OF, publisher) == []  # replay: nothing
    assert len(publisher.records) == len(issued) == RentalStatement.objects.count()
    assert [v.version for v in issued] == list(range(1, len(issued) + 1))
    newest = issued[-1]
    mongo_db["usage_deltas"].delete_many({})
    mongo_db["usage_last_readings"].delete_many({})
    feed(readings)  # the sorted stream, in one go
    sorted_lines = [line.__dict__ for line in compute(rental, AS_OF, closed_only=True).lines]
    assert [line["hours_used"] for line in newest.lines] == [str(line["hours_used"]) for line in sorted_lines]
    assert [line["data_gap_hours"] for line in newest.lines] == [str(line["data_gap_hours"]) for line in sorted_lines]
    assert newest.totals["total"] == str(sum(line["amount"] for line in sorted_lines))
    # The delta lines of all versions add up to the newest version's lines.
    for field in ("hours_used", "amount"):
        summed = sum(Decimal(d[field]) for v in issued for d in v.delta_lines)
        assert summed == sum(Decimal(line[field]) for line in newest.lines)
