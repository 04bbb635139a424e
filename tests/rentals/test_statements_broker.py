"""Statement versions on the real broker: ``manage.py refresh_rental_statements`` publishes one event
per new version on RENTALS_TOPIC; replays publish nothing; an undelivered event stores nothing; a
crash between delivery and storing republishes the same event id and stores one version."""

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from equipment_rentals.models import RentalStatement
from equipment_rentals.publisher import RentalsPublisher
from equipment_rentals.statements import pending_issue
from equipment_usage.business_ledger import Reading
from stream.codecs import TransientError
from tests.rentals.fleet import AUG, contract, feed, hourly_readings, ms
from tests.usage.test_late_broker import read_all

pytestmark = pytest.mark.django_db(transaction=True)
AS_OF = "2026-08-02T00:00:00Z"


def events(kafka, topic, codec=None):
    """The topic's events, decoded by the ``rentals`` codec (which checks them against the schema)."""
    from telemetry_site.backends import codecs

    codec = codec or codecs["rentals"]
    return [(m.key().decode(), codec.decode(m.value())) for m in read_all(kafka, topic, idle=2.0)]


def refresh_command(*args):
    out = StringIO()
    call_command("refresh_rental_statements", "--as-of", AS_OF, *args, stdout=out)
    return out.getvalue()


def june_july_with_an_outage():
    june = [1] * 195 + [0] * (30 * 24 - 195)
    july = [1] * 168 + [0] * (31 * 24 - 170)  # readings end July 31 22:00
    return hourly_readings("EX1", AUG.replace(month=6), june + july)


def test_versions_and_events_on_the_broker(kafka, avro, settings, mongo_db):
    """Avro in the Confluent wire format here (the schema registry's in-process stand-in)."""
    readings = june_july_with_an_outage()
    feed(readings)
    rental = contract(pooled=True)
    assert "1 statement version(s) issued" in refresh_command()
    assert "0 statement version(s) issued" in refresh_command()  # replay: nothing
    feed([Reading("EX1", ms(AUG), readings[-1].hours + 2, None)])  # July's last 2 h, late
    assert f"contract {rental.pk}: issued v2" in refresh_command()
    assert "0 statement version(s) issued" in refresh_command()
    published = events(kafka, settings.RENTALS_TOPIC, avro["rentals"])
    assert [(key, event["version"]) for key, event in published] == [(str(rental.pk), 1), (str(rental.pk), 2)]
    v1, v2 = published[0][1], published[1][1]
    assert v1["amount"]["excess_total"] == "375.00" and v1["retracted"] is None  # 11 h x 6000/176
    assert v2["retracted"] == v1["amount"] and v2["amount"]["excess_total"] == "443.18"
    [delta] = v2["delta_lines"]
    assert (delta["hours_used"], delta["excess_amount"]) == ("2.00", "68.18")
    stored = RentalStatement.objects.filter(contract=rental).order_by("version")
    assert [s.event_id for s in stored] == [v1["event_id"], v2["event_id"]]


def test_an_undelivered_event_stores_no_version_and_the_next_run_issues_it(kafka, settings, mongo_db):
    feed(june_july_with_an_outage())
    contract()
    topic = settings.RENTALS_TOPIC
    settings.RENTALS_TOPIC = f"missing-{uuid.uuid4().hex}"
    settings.TELEMETRY_KAFKA = {
        "default": {
            **settings.TELEMETRY_KAFKA["default"],
            "OPTIONS": {
                **settings.TELEMETRY_KAFKA["default"]["OPTIONS"],
                "producer": {"allow.auto.create.topics": False, "message.timeout.ms": 2000},
            },
        }
    }
    with pytest.raises(TransientError):
        refresh_command()
    assert RentalStatement.objects.count() == 0
    settings.RENTALS_TOPIC = topic
    assert "1 statement version(s) issued" in refresh_command()
    assert len(events(kafka, topic)) == 1


def test_a_crash_after_delivery_republishes_the_same_event_and_stores_one_version(kafka, settings, mongo_db):
    feed(june_july_with_an_outage())
    rental = contract()
    # The first run delivered v1's event and died before storing it.
    RentalsPublisher().publish([pending_issue(rental, AUG.replace(day=2)).event])
    assert "1 statement version(s) issued" in refresh_command()
    published = events(kafka, settings.RENTALS_TOPIC)
    assert len(published) == 2 and published[0][1] == published[1][1]  # same id: a consumer keeps one
    assert RentalStatement.objects.get().event_id == published[0][1]["event_id"]


def test_a_bad_as_of_is_a_command_error_naming_it(db):
    with pytest.raises(CommandError, match="--as-of"):
        call_command("refresh_rental_statements", "--as-of", "yesterday", stdout=StringIO())
