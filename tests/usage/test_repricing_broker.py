"""A backdated rate change on the real broker (Tansu), in process, with real Avro bytes: the
issue's case. Rates first, telemetry, then each machine's second, dearer rate effective from the
middle of its data: the API's costs and the usage topic, applied by record id with retractions,
equal a ground truth that prices every interval with the version in effect at its start."""

from __future__ import annotations

from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command

from equipment_usage.repository import EquipmentRegistryRepository
from tests.factories import produce
from tests.usage.fleet import dearer_versions, generate, priced_ground_truth
from tests.usage.test_late_broker import read_all

pytestmark = pytest.mark.broker


def consume(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, "--idle-timeout", "3", stdout=out)
    assert "0 dead-lettered" in out.getvalue(), out.getvalue()
    return out.getvalue()


def api_costs(api_client, identifiers) -> dict[tuple[str, str], dict]:
    totals = {}
    for identifier in identifiers:
        response = api_client.get("/api/v1/usage/search/", {"identifier": identifier, "group_by": "day"})
        assert response.status_code == 200, response.content
        totals.update({(identifier, g["key"]): g for g in response.json()["results"]})
    return totals


def topic_costs(kafka, codec, topic: str) -> tuple[dict[tuple[str, str], list[float]], int, int]:
    """The usage topic applied by record id (last wins, a retraction removes): per (machine, date)
    hours, km and cost; and how many records were kept and retracted."""
    kept: dict[str, dict] = {}
    retractions = 0
    for message in read_all(kafka, topic):
        record = codec.decode(message.value())
        if record["retracted"]:
            retractions += 1
            kept.pop(record["record_id"], None)
        else:
            kept[record["record_id"]] = record
    cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for record in kept.values():
        cell = cells[(record["identifier"], record["date"])]
        cell[0] += record["delta_hours"] or 0.0
        cell[1] += record["delta_km"] or 0.0
        cell[2] += sum(source["cost"] for source in record["cost_sources"])
    return dict(cells), len(kept), retractions


def test_a_backdated_rate_change_after_the_telemetry_reprices_what_it_governs(
    kafka, avro, mongo_db, settings, api_client
):
    fleet = generate(machines=6, days=2, seed=22)
    dearer = dearer_versions(fleet)
    truth = priced_ground_truth(fleet, fleet.registry + dearer)
    registry = EquipmentRegistryRepository(mongo_db)  # the first rates, stored before the telemetry
    registry.ensure_indexes()
    registry.store(fleet.registry)
    produce(kafka.producer(), settings.TELEMETRY_TOPIC, avro["telemetry"], fleet.stream)
    settings.CONSUMER_BATCH_SIZE = 50
    consume("consume_equipment_telemetry", "--service", "usage")
    stale = api_costs(api_client, fleet.per_machine)
    wrong = [key for key in truth if stale[key]["cost"] != pytest.approx(truth[key]["cost"], rel=1e-9)]
    assert len(wrong) >= len(fleet.per_machine)  # the starting point: old rates after the middle
    largest = max(abs(stale[key]["cost"] - truth[key]["cost"]) for key in truth)

    produce(kafka.producer(), settings.REGISTRY_TOPIC, avro["registry"], [*fleet.registry, *dearer])  # backdated
    consume("consume_equipment_registry")
    totals = api_costs(api_client, fleet.per_machine)
    assert set(totals) == set(truth)
    for key, want in truth.items():
        for name in ("hours", "km", "cost"):
            assert totals[key][name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), (key, name)
        assert totals[key]["unpriced"] == 0
    repriced = mongo_db.usage_deltas.count_documents({"repriced_by": {"$ne": None}})
    assert repriced >= fleet.distinct_readings // 2 - 2 * len(fleet.per_machine)
    assert mongo_db.usage_repricings.count_documents({"entries": {"$gt": 0}}) == len(fleet.per_machine)

    error = max(abs(totals[key]["cost"] - truth[key]["cost"]) for key in truth)
    print(
        f"\nREPRICING before: {len(wrong)} of {len(truth)} (machine, day) costs wrong, largest error "
        f"{largest:.2f}; after: largest error {error:.2e}; {repriced} entries re-priced"
    )
    cells, kept, retractions = topic_costs(kafka, avro["usage"], settings.USAGE_TOPIC)
    assert retractions >= repriced  # at least one retraction per (re-priced entry, day)
    assert kept == sum(cell["parts"] for cell in truth.values())
    assert set(cells) == set(truth)
    for key, (hours, km, cost) in cells.items():
        assert [hours, km, cost] == pytest.approx([truth[key][n] for n in ("hours", "km", "cost")], rel=1e-9), key

    # replaying the registry topic (a new group reads it all) changes nothing
    before = sorted(mongo_db.usage_deltas.find(), key=lambda d: d["_id"])
    settings.TELEMETRY_SERVICES = {
        **settings.TELEMETRY_SERVICES,
        "registry": {**settings.TELEMETRY_SERVICES["registry"], "GROUP_ID": "registry-replay"},
    }
    consume("consume_equipment_registry")
    assert sorted(mongo_db.usage_deltas.find(), key=lambda d: d["_id"]) == before
    assert api_costs(api_client, fleet.per_machine) == totals
