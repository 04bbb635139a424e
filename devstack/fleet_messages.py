"""What a simulated machine sends: registry records, telemetry reports and garbage (``FleetMessages``)."""

from __future__ import annotations

import math

from devstack.fleet import (
    ENGINE_ON,
    GARBAGE,
    METRES_PER_DEGREE,
    MS_PER_HOUR,
    POI_RADIUS_M,
    REGISTRY,
    WORK,
    WORK_WANDER_M,
    Activity,
    Machine,
    SimulatedEvent,
    distance_m,
    points_of_interest_near,
)


class FleetMessages:
    """The messages a machine sends, for ``FleetSimulator``: registry records, telemetry reports
    (position, address, counters), garbage. A mixin: it reads the simulator's state."""

    # -- messages ----------------------------------------------------------------------------------

    def registry_record(self, machine: Machine, at: int) -> dict:
        return {
            "identifier": machine.identifier,
            "serial_number": machine.serial_number,
            "brand": machine.model.brand,
            "model": machine.model.model,
            "hourly_rate": machine.hourly_rate,
            "km_rate": machine.km_rate,
            "currency": "EUR",
            "last_update": at,
        }

    def _rate_update(self, machine: Machine, at: int) -> SimulatedEvent:
        factor = self._registry_rng.uniform(0.97, 1.08)  # mostly increases, as price lists do
        machine.hourly_rate = round(machine.hourly_rate * factor, 2)
        machine.km_rate = round(machine.km_rate * factor, 2)
        return SimulatedEvent(REGISTRY, machine.identifier, self.registry_record(machine, at), at, at)

    def _position(self, machine: Machine, activity: Activity, at: int) -> tuple[float, float]:
        latitude, longitude = activity.position(at)
        if activity.mode != WORK:
            return latitude, longitude
        east, north = machine.wander
        east += machine.rng.gauss(0, 30)
        north += machine.rng.gauss(0, 30)
        scale = math.hypot(east, north) / WORK_WANDER_M
        if scale > 1:
            east, north = east / scale, north / scale
        machine.wander = (east, north)
        return (
            latitude + north / METRES_PER_DEGREE,
            longitude + east / (METRES_PER_DEGREE * math.cos(math.radians(latitude))),
        )

    def _address(self, latitude: float, longitude: float, site_names: list[str]) -> str:
        """A reverse-geocoded address: the site's or depot's when there, else the nearest town."""
        if site_names:
            return self._places_by_name[site_names[0]].address
        # Nearest place by a flat approximation: exact enough to name a town, and cheap.
        squeeze = math.cos(math.radians(latitude)) ** 2
        nearest = min(
            self._places,
            key=lambda p: (p.latitude - latitude) ** 2 + (p.longitude - longitude) ** 2 * squeeze,
        )
        if distance_m(latitude, longitude, nearest.latitude, nearest.longitude) <= POI_RADIUS_M:
            return nearest.address
        return f"near {nearest.town}"

    def _telemetry(self, machine: Machine, activity: Activity, at: int) -> dict:
        running = activity.mode in ENGINE_ON
        position = self._position(machine, activity, at)
        if machine.rng.random() < self.gps_loss_rate:
            location = {"address": None, "GPS": None, "pointsOfInterest": None}
        else:
            latitude, longitude = round(position[0], 6), round(position[1], 6)
            names = points_of_interest_near(latitude, longitude, self.sites)
            location = {
                "address": self._address(latitude, longitude, names),
                "GPS": {"latitude": latitude, "longitude": longitude},
                "pointsOfInterest": [{"name": name} for name in names],
            }
        model = machine.model
        return {
            "identifier": machine.identifier,
            "timestamp": at,
            "base": {"code": machine.depot.name},
            "description": {"brand": model.brand, "model": model.model},
            "location": location,
            "c40": {
                "odometry": {"hours_tot": machine.engine_ms / MS_PER_HOUR, "km_tot": round(machine.km, 3)},
                "engine": {"running": running},
                "fuel": {
                    "used_tot_l": round(machine.fuel_used_l, 2),
                    "level_pct": round(min(100.0, max(0.0, 100 * machine.fuel_level_l / model.tank_l)), 1),
                },
            },
        }

    def _garbage(self, key: str, at: int) -> SimulatedEvent:
        rng = self._fault_rng
        # A UTF-8 continuation byte first: neither a JSON text nor the Avro wire format's magic byte 0.
        data = bytes([rng.randint(0x80, 0xBF)]) + rng.randbytes(rng.randint(4, 60))
        return SimulatedEvent(GARBAGE, key, data, at, at)
