"""Our own AEMP feed, served over real HTTP (Django's live server), read by a connector, published
to the real broker, consumed into a second instance's store: the second instance's AEMP answers
equal the first's."""

from __future__ import annotations

import uuid

import pytest

from equipment_connectors.models import Connector
from equipment_connectors.runner import ConnectorRunner
from telemetry_site.services import build_consumer_loop
from tests.aemp.conftest import apply
from tests.factories import T0, telemetry

BASE = "/aemp/v2/15143/-3"
MACHINES = 150  # two pages of our feed


def fleet_answers(api_client, pages: int) -> list[dict]:
    answers = []
    for page in range(1, pages + 1):
        body = api_client.get(f"{BASE}/Fleet/{page}").json()
        body.pop("snapshotTime")  # the time of the answer
        answers.append(body)
    return answers


def second_instance(settings) -> None:
    """Point this process at a fresh, empty store: the second instance."""
    settings.TELEMETRY_DATABASES = {
        "default": {
            "BACKEND": "telemetry_site.databases.open_database",
            "OPTIONS": {"uri": "mongomock://", "name": f"c40_second_{uuid.uuid4().hex[:8]}"},
        }
    }


@pytest.mark.parametrize(("codec", "feed_format"), [("json", "xml"), ("avro", "xml"), ("json", "json")])
def test_our_feed_round_trips_into_a_second_instance(
    request, live_server, transactional_db, mongo_db, kafka, settings, api_client, codec, feed_format
):
    if codec == "avro":
        request.getfixturevalue("avro")
    settings.API_ALLOW_ANONYMOUS_READ = True  # the connector reads our feed without credentials
    apply(
        *(
            telemetry(f"RT{i:03d}", T0 + i * 1000, km=5000.0 + i / 8, hours=100.0 + i / 4, fuel_used=900.0 + i)
            for i in range(MACHINES)
        ),
        telemetry("RT000", T0 + 7_500, latitude=None, longitude=None),  # hours newer than the position
    )
    first = fleet_answers(api_client, 2)
    assert sum(len(page["Equipment"]) for page in first) == MACHINES

    Connector.objects.create(
        name="ourselves", maker="c40", base_url=f"{live_server.url}{BASE}", auth_type="none", format=feed_format
    )
    [report] = ConnectorRunner(timeout=10.0).run_once()
    assert (report.outcome, report.pages, report.machines) == ("ok", 2, MACHINES), report.error
    assert report.messages == MACHINES + 1  # RT000's position and counters have different times

    second_instance(settings)
    assert fleet_answers(api_client, 1)[0]["Equipment"] == []
    stats = build_consumer_loop("current", idle_timeout=3).run()
    assert (stats.processed, stats.dead_lettered) == (MACHINES + 1, 0)
    assert fleet_answers(api_client, 2) == first
