"""Consumer handler of the maintenance service (``TELEMETRY_SERVICES["maintenance"]``): judges each
machine's plans on its engine-hour readings and emits DUE_SOON / DUE / OVERDUE once each.

Per batch, in this order (docs/MAINTENANCE.md, "Emitted once"):
1. the events the readings reach (``business.plan_events``, in event-time order, above the highest
   hours seen so far) are claimed in the emission store, pending (insert-if-absent on the event key);
2. every pending event of the batch's machines is published and waited for;
3. they are marked published;
4. each machine's highest hours seen is raised.
A kill before 2 leaves them pending: the uncommitted batch comes again, claims nothing new and
publishes them. A kill between 2 and 3 publishes them a second time, with the same event ids.
A kill before 4 only makes the replay judge the same readings again: the store knows their events.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from equipment_maintenance.business import plan_events
from equipment_maintenance.clock import date_of_ms
from equipment_maintenance.plans import events_publisher, plans_of, publish_pending, reading_event, repository
from stream.consumer import Record
from stream.records import section


def engine_hour_readings(records: Sequence[Record]) -> dict[str, list[tuple]]:
    """(local date, hours, event time) of each record with engine hours, by machine."""
    readings: dict[str, list[tuple]] = defaultdict(list)
    for record in records:
        value = record.value
        hours = section(section(value, "c40"), "odometry").get("hours_tot")
        if hours is None or not math.isfinite(hours):
            continue
        readings[value["identifier"]].append((date_of_ms(value["timestamp"]), float(hours), value["timestamp"]))
    return dict(readings)


class MaintenanceHandler:
    def __init__(self, events: Any = None, publisher: Any = None) -> None:
        self._events = events
        self._publisher = publisher

    @property
    def events(self) -> Any:
        if self._events is None:
            self._events = repository("maintenance_events")
        return self._events

    @property
    def publisher(self) -> Any:
        if self._publisher is None:
            self._publisher = events_publisher()
        return self._publisher

    def open_kafka_clients(self) -> None:
        """Create the producer with the loop's other clients (it connects during the group join)."""
        self.publisher.producer  # noqa: B018 - the property creates it

    def handle(self, records: Sequence[Record]) -> None:
        readings = engine_hour_readings(records)
        if not readings:
            return
        plans = plans_of(readings)
        highest = self.events.highest(readings)
        reached = [
            reading_event(plan, event)
            for machine, machine_readings in readings.items()
            for plan in plans.get(machine, ())
            for event in plan_events(
                plan.rules, machine_readings, plan.services, highest.get(machine, -math.inf), plan.start
            )
        ]
        self.events.claim(reached)
        publish_pending(self.events, self.publisher, readings)
        self.events.raise_highest({machine: max(r[1] for r in rs) for machine, rs in readings.items()})
