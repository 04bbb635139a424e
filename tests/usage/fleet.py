"""A generated fleet for the usage end-to-end tests, and the usage it must produce, computed here
independently of ``equipment_usage`` (plain arithmetic on UTC days)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from tests.factories import telemetry

MINUTE = 60_000
DAY = 86_400_000
START = 1_764_028_800_000  # 2025-11-25T00:00:00Z, a UTC midnight
RESET_MACHINE = "EX007"


@dataclass
class Fleet:
    per_machine: dict[str, list[dict]]  # each machine's distinct readings, in event order
    stream: list[dict]  # what is produced: interleaved across machines, with duplicates
    registry: list[dict]

    @property
    def distinct_readings(self) -> int:
        return sum(len(readings) for readings in self.per_machine.values())


def _counters(record: dict) -> tuple[float, float]:
    odometry = record["c40"]["odometry"]
    return odometry["hours_tot"], odometry["km_tot"]


def generate(machines: int = 20, days: int = 3, seed: int = 11) -> Fleet:
    rng = random.Random(seed)
    per_machine: dict[str, list[dict]] = {}
    for m in range(machines):
        identifier = f"EX{m:03d}"
        ts, hours, km = START + m * MINUTE, 1000.0 + m, 20_000.0 + 10 * m
        readings = []
        while ts < START + days * DAY:
            pois = rng.choice([[], [f"site-{m % 4}"], [f"site-{m % 4}", "depot"]])
            readings.append(telemetry(identifier, ts, hours=round(hours, 3), km=round(km, 3), pois=pois))
            step = rng.choice([37, 50, 73, 95, 121, 180])
            hours += step / 60 * rng.choice([0.0, 0.5, 0.9])
            km += step / 60 * rng.uniform(0, 40)
            ts += step * MINUTE
            if identifier == RESET_MACHINE and len(readings) == 12:
                hours = 0.5  # the engine hour meter was replaced
        per_machine[identifier] = readings

    # Each machine's readings in event order (as Kafka keeps them per key), a tenth of them sent
    # again somewhere later in that machine's sequence; machines interleaved at random.
    sequences = []
    for readings in per_machine.values():
        sequence = list(readings)
        for original in rng.sample(readings, len(readings) // 10):
            position = rng.randint(sequence.index(original) + 1, len(sequence))
            sequence.insert(position, dict(original))
        sequences.append(sequence)
    stream = []
    while any(sequences):
        stream.append(rng.choice([s for s in sequences if s]).pop(0))

    registry = [
        {
            "identifier": identifier,
            "serial_number": f"SN-{identifier}",
            "brand": "Caterpillar",
            "model": "320",
            "hourly_rate": 40.0 + i,
            "km_rate": 0.5 + i / 10,
            "currency": "EUR",
            "last_update": START - DAY,
        }
        for i, identifier in enumerate(per_machine)
    ]
    return Fleet(per_machine, stream, registry)


def ground_truth(fleet: Fleet) -> dict[tuple[str, str], dict[str, float]]:
    """(identifier, UTC date) -> hours, km, cost, and the number of (delta, day) parts."""
    rates = {r["identifier"]: (r["hourly_rate"], r["km_rate"]) for r in fleet.registry}
    truth: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"hours": 0.0, "km": 0.0, "parts": 0})
    for identifier, readings in fleet.per_machine.items():
        for a, b in pairwise(readings):
            (h1, k1), (h2, k2) = _counters(a), _counters(b)
            dh = h2 - h1 if h2 >= h1 else 0.0  # a reset counts nothing
            dk = k2 - k1
            start, end = a["timestamp"], b["timestamp"]
            day_start = start - start % DAY
            while day_start < end:
                overlap = min(end, day_start + DAY) - max(start, day_start)
                if overlap > 0:
                    date = datetime.fromtimestamp(day_start / 1000, tz=UTC).date().isoformat()
                    cell = truth[(identifier, date)]
                    cell["hours"] += dh * overlap / (end - start)
                    cell["km"] += dk * overlap / (end - start)
                    cell["parts"] += 1
                day_start += DAY
    for (identifier, _), cell in truth.items():
        hourly, per_km = rates[identifier]
        cell["cost"] = cell["hours"] * hourly + cell["km"] * per_km
    return dict(truth)


def priced_ground_truth(fleet: Fleet, versions: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """(identifier, UTC date) -> hours, km, cost, parts, each interval priced with the registry
    version in effect at its start (the newest ``last_update`` not after it), whatever the order the
    versions were published in. Plain arithmetic, like ``ground_truth``."""
    by_machine: dict[str, list[dict]] = defaultdict(list)
    for version in versions:
        by_machine[version["identifier"]].append(version)
    truth: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"hours": 0.0, "km": 0.0, "cost": 0.0, "parts": 0}
    )
    for identifier, readings in fleet.per_machine.items():
        for a, b in pairwise(readings):
            (h1, k1), (h2, k2) = _counters(a), _counters(b)
            dh = h2 - h1 if h2 >= h1 else 0.0  # a reset counts nothing
            dk = k2 - k1
            start, end = a["timestamp"], b["timestamp"]
            in_effect = max(
                (v for v in by_machine[identifier] if v["last_update"] <= start), key=lambda v: v["last_update"]
            )
            day_start = start - start % DAY
            while day_start < end:
                overlap = min(end, day_start + DAY) - max(start, day_start)
                if overlap > 0:
                    date = datetime.fromtimestamp(day_start / 1000, tz=UTC).date().isoformat()
                    cell = truth[(identifier, date)]
                    hours, km = dh * overlap / (end - start), dk * overlap / (end - start)
                    cell["hours"] += hours
                    cell["km"] += km
                    cell["cost"] += hours * in_effect["hourly_rate"] + km * in_effect["km_rate"]
                    cell["parts"] += 1
                day_start += DAY
    return dict(truth)


def dearer_versions(fleet: Fleet, factor: float = 1.5) -> list[dict]:
    """Per machine, a second registry version, dearer by ``factor``, effective from the middle of
    its readings (a reading's own time, so intervals on both sides of it exist)."""
    versions = []
    for record in fleet.registry:
        readings = fleet.per_machine[record["identifier"]]
        middle = readings[len(readings) // 2]["timestamp"]
        versions.append(
            {
                **record,
                "hourly_rate": record["hourly_rate"] * factor,
                "km_rate": record["km_rate"] * factor,
                "last_update": middle,
            }
        )
    return versions
