"""The simulated fleet's world: places, machine models, geometry, events, machines and their day plans.

Pure, like ``devstack.simulator`` which drives them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

# The sites and depots are around Milan, Bergamo and Turin: shifts are in their local time.
SIMULATED_FLEET_TIME_ZONE = "Europe/Rome"
# The enrichment upstream lists a work site when the machine is within this distance of it.
POI_RADIUS_M = 1_000.0
# Roads are longer than the straight line between two points.
ROAD_FACTOR = 1.3
# A low-loader carrying a tracked machine between sites.
TRANSPORT_KMH = 45.0
# While working, a machine moves about its site but stays this close to the site's centre.
WORK_WANDER_M = 250.0
# The shortest reporting interval: timestamps are milliseconds and a box reports at most this often.
MIN_STEP_SECONDS = 0.01
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = 111_320.0

OFF, IDLE, WORK, DRIVE, TRANSPORT = "off", "idle", "work", "drive", "transport"
ENGINE_ON = frozenset({IDLE, WORK, DRIVE})

TELEMETRY, REGISTRY, GARBAGE = "telemetry", "registry", "garbage"

# How a machine gets from one site to another.
TRANSPORTED = "transported"  # tracked: carried by a low-loader with the engine off, parks on site
DRIVES = "drives"  # wheeled: drives itself to a new site, parks on site overnight
COMMUTES = "commutes"  # road-going: drives from its depot to the site and back every working day

SITE_CHANGE_PROBABILITY = 0.15  # per machine per working day: tomorrow it works elsewhere
SATURDAY_PROBABILITY = 0.2  # share of machines that also work Saturday mornings
OVERTIME_PROBABILITY = 0.08  # per machine per working weekday: work goes on into the evening


@dataclass(frozen=True)
class Place:
    """A depot or a work site. ``address`` ends with the town, after the last comma."""

    name: str
    region: str
    address: str
    latitude: float
    longitude: float

    @property
    def town(self) -> str:
        return self.address.rsplit(",", 1)[-1].strip()


@dataclass(frozen=True)
class MachineModel:
    brand: str
    model: str
    kind: str
    prefix: str  # of identifiers: EX001, CR014...
    mobility: str
    weight: int  # share of the fleet mix
    road_kmh: float  # travel speed between places
    work_kmh: float  # average km per engine hour while working on site
    work_lph: float  # fuel while working, litres per hour
    idle_lph: float
    tank_l: float
    hourly_rate: float  # EUR per engine hour
    km_rate: float  # EUR per km
    typical_hours: tuple[float, float]  # engine hours of the machines in the fleet


DEPOTS: tuple[Place, ...] = (
    Place("MI01", "Milano", "Via Cassanese 210, Segrate", 45.4880, 9.2950),
    Place("MI02", "Milano", "Via Edison 40, Settimo Milanese", 45.4780, 9.0550),
    Place("TO01", "Torino", "Strada Settimo 300, Torino", 45.1150, 7.6400),
    Place("BG01", "Bergamo", "Via Guzzanica 12, Stezzano", 45.6500, 9.6500),
)

SITES: tuple[Place, ...] = (
    Place("Cantiere M4 Linate", "Milano", "Viale Forlanini, Milano", 45.4593, 9.2661),
    Place("Cantiere Scalo Porta Romana", "Milano", "Via Ripamonti, Milano", 45.4453, 9.2057),
    Place("Cantiere MIND Rho", "Milano", "Via Cristina Belgioioso, Rho", 45.5189, 9.0863),
    Place("Cantiere Santa Giulia Arena", "Milano", "Via Rogoredo, Milano", 45.4380, 9.2360),
    Place("Cava Trezzano", "Milano", "Via Leonardo da Vinci, Trezzano sul Naviglio", 45.4170, 9.0650),
    Place("Cantiere Brebemi Treviglio", "Bergamo", "SP 11, Treviglio", 45.5200, 9.5920),
    Place("Cantiere Orio Terminal", "Bergamo", "Via Orio al Serio, Bergamo", 45.6690, 9.7000),
    Place("Cava Calusco d'Adda", "Bergamo", "Via Vanoni, Calusco d'Adda", 45.6880, 9.4700),
    Place("Cantiere Metro 2 Rebaudengo", "Torino", "Piazza Rebaudengo, Torino", 45.0927, 7.6946),
    Place("Cantiere Parco della Salute", "Torino", "Via Nizza, Torino", 45.0299, 7.6611),
    Place("Cantiere Tangenziale Falchera", "Torino", "Strada dell'Aeroporto, Torino", 45.1125, 7.7164),
    Place("Cava Settimo Torinese", "Torino", "Via Torino, Settimo Torinese", 45.1410, 7.7700),
)

MODELS: tuple[MachineModel, ...] = (
    MachineModel("Caterpillar", "320", "excavator", "EX", TRANSPORTED, 14, 5, 0.3, 15, 3, 345, 48, 0, (800, 9000)),
    MachineModel("Caterpillar", "336", "excavator", "EX", TRANSPORTED, 5, 5, 0.2, 24, 4, 600, 75, 0, (800, 9000)),
    MachineModel("Komatsu", "PC210", "excavator", "EX", TRANSPORTED, 12, 5, 0.3, 14, 3, 400, 46, 0, (800, 11000)),
    MachineModel("Volvo", "EC220", "excavator", "EX", TRANSPORTED, 8, 5, 0.3, 15, 3, 420, 47, 0, (500, 8000)),
    MachineModel("Volvo", "L90", "wheel loader", "WL", DRIVES, 8, 35, 4.0, 12, 2.5, 270, 42, 0.6, (1000, 12000)),
    MachineModel(
        "Liebherr", "LTM 1050", "mobile crane", "CR", COMMUTES, 3, 70, 0.0, 10, 4, 400, 130, 3.5, (2000, 15000)
    ),
    MachineModel("Bell", "B30E", "articulated dumper", "DT", DRIVES, 6, 50, 12.0, 18, 3, 400, 60, 1.2, (1000, 14000)),
    MachineModel("JCB", "3CX", "backhoe loader", "BH", COMMUTES, 10, 35, 2.0, 7, 1.5, 160, 32, 0.5, (500, 10000)),
)


# --- geometry ------------------------------------------------------------------------------------


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def points_of_interest_near(
    latitude: float, longitude: float, sites: Sequence[Place], radius_m: float = POI_RADIUS_M
) -> list[str]:
    """Names of the sites within ``radius_m`` of a position, nearest first."""
    # A degree of latitude is ~111 km: skip the trigonometry for sites clearly too far.
    window = radius_m / METRES_PER_DEGREE * 2
    near = []
    for site in sites:
        if abs(site.latitude - latitude) > window or abs(site.longitude - longitude) > window * 2:
            continue
        d = distance_m(latitude, longitude, site.latitude, site.longitude)
        if d <= radius_m:
            near.append((d, site.name))
    return [name for _, name in sorted(near)]


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), zone).timestamp() * MS_PER_SECOND)


def local_time_ms(day: date, hour: int, minute: int, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(hour, minute), zone).timestamp() * MS_PER_SECOND)


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedEvent:
    """One message to publish. ``timestamp`` is its event time; ``emitted_at`` when it is sent
    (later than ``timestamp`` only for a late message). ``activity`` (telemetry only) says what the
    machine was doing, for tests and logs; it is not part of the message."""

    kind: str  # "telemetry", "registry" or "garbage"
    key: str  # the machine's identifier
    value: dict | bytes  # a record in the shape of the topic's Avro schema, or raw bytes for garbage
    timestamp: int
    emitted_at: int
    duplicate: bool = False
    late: bool = False
    activity: str | None = None


@dataclass(frozen=True)
class CounterReset:
    identifier: str
    at: int  # epoch ms; counters read after this come from a new ECU


@dataclass
class SimulationCounters:
    """What the simulator has yielded so far (duplicates and late messages are also telemetry)."""

    telemetry: int = 0
    registry: int = 0
    garbage: int = 0
    duplicates: int = 0
    late: int = 0  # late originals; a duplicate of a late message counts as a duplicate only
    heartbeats: int = 0  # telemetry with the engine off
    without_gps: int = 0
    resets: int = 0

    @property
    def messages(self) -> int:
        return self.telemetry + self.registry + self.garbage

    def add(self, event: SimulatedEvent) -> None:
        if event.kind == REGISTRY:
            self.registry += 1
        elif event.kind == GARBAGE:
            self.garbage += 1
        else:
            self.telemetry += 1
            self.duplicates += event.duplicate
            self.late += event.late and not event.duplicate
            self.heartbeats += not event.value["c40"]["engine"]["running"]
            self.without_gps += event.value["location"]["GPS"] is None


# --- machines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    mode: str
    start: int
    end: int
    origin: tuple[float, float]
    destination: tuple[float, float]
    road_km: float = 0.0  # km the odometer counts over the whole activity (drives only)

    def position(self, at: int) -> tuple[float, float]:
        if self.origin == self.destination:
            return self.origin
        fraction = min(1.0, max(0.0, (at - self.start) / (self.end - self.start)))
        return (
            self.origin[0] + (self.destination[0] - self.origin[0]) * fraction,
            self.origin[1] + (self.destination[1] - self.origin[1]) * fraction,
        )


@dataclass
class Machine:
    identifier: str
    model: MachineModel
    depot: Place
    sites: list[Place]
    serial_number: str
    hourly_rate: float
    km_rate: float
    rng: random.Random
    phase_ms: int  # offset of its reports within a step, so machines do not report in lockstep
    works_saturdays: bool
    # Every day, night included (a tunnel site's shifts), not 07:00-17:00. Drawn from a generator of
    # its own, seeded by the identifier, so that every other draw of the fleet stays as it was.
    around_the_clock: bool
    site: Place
    next_site: Place
    parked: tuple[float, float]
    # Engine time in integer milliseconds: hours_tot is one division of it, so the hours between
    # two reports never exceed the time between them.
    engine_ms: int
    km: float
    fuel_used_l: float
    fuel_level_l: float
    activities: list[Activity] = field(default_factory=list)
    planned_until: int = 0
    next_day: date | None = None
    accounted_until: int = 0  # counters include everything up to this time
    last_report: int | None = None
    engine_was_on: bool = False
    wander: tuple[float, float] = (0.0, 0.0)  # metres east, north of the site's centre
    reset_at: int | None = None

    first: int = 0  # index of the first activity that ends after accounted_until

    def activity_at(self, at: int) -> Activity:
        for index in range(self.first, len(self.activities)):
            activity = self.activities[index]
            if activity.start <= at < activity.end:
                return activity
        raise LookupError(f"{self.identifier} has no plan for {at}")  # the planner covers every instant


class _DayPlanner:
    """Appends activities back to back from a start time and position."""

    def __init__(self, start: int, position: tuple[float, float]) -> None:
        self.cursor = start
        self.position = position
        self.activities: list[Activity] = []

    def stay(self, mode: str, until: int) -> None:
        if until > self.cursor:
            self.activities.append(Activity(mode, self.cursor, until, self.position, self.position))
            self.cursor = until

    def travel(self, mode: str, destination: tuple[float, float], kmh: float) -> None:
        km = distance_m(*self.position, *destination) / 1000 * ROAD_FACTOR
        if km < 0.05:
            return
        duration = max(MS_PER_MINUTE, round(km / kmh * MS_PER_HOUR))
        road_km = km if mode == DRIVE else 0.0
        self.activities.append(Activity(mode, self.cursor, self.cursor + duration, self.position, destination, road_km))
        self.cursor += duration
        self.position = destination

    def work(self, until: int, rng: random.Random) -> None:
        """Blocks of work with idling between them (waiting for trucks, the operator's breaks)."""
        while self.cursor < until:
            self.stay(WORK, min(until, self.cursor + rng.randint(15, 90) * MS_PER_MINUTE))
            if self.cursor < until:
                self.stay(IDLE, min(until, self.cursor + rng.randint(3, 20) * MS_PER_MINUTE))
