"""A simulated fleet of heavy equipment: a pure, deterministic generator of telemetry and registry records.

Every machine has a make and model, a home depot and a few work sites (points of interest). On
working days it follows a shift: warm-up idling, travel to its site, blocks of work and idling, a
lunch break with the engine off, travel back. Counters only grow (engine hours while the engine
runs, km while the machine moves, fuel with engine time) unless a counter reset is simulated (a new
ECU starts from zero). The C40 box reports every ``step_seconds`` while the engine runs, once more
at key-off, and a heartbeat every ``heartbeat_minutes`` while it is off; a few reports lack a GPS fix.

On top of that behaviour, faults are injected at set rates: duplicates (the same message again),
late messages (emitted after later ones) and garbage (random bytes). Faults draw from their own
random stream, so switching them on does not change what the fleet does.

The same seed and start give the same events. Nothing here imports Django, DRF, pymongo or Kafka:
the ``simulate_fleet`` command publishes what this module yields.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

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


# --- the simulator -------------------------------------------------------------------------------


class FleetSimulator:
    """A fleet of ``machines`` machines from ``start_ms`` on; ``events()`` yields what they send.

    Rates: ``duplicate_rate``, ``late_rate`` and ``garbage_rate`` are per telemetry message;
    ``reset_rate`` and ``absence_rate`` per machine per working day; ``registry_update_rate`` per
    machine per day; ``gps_loss_rate`` per report.
    """

    def __init__(
        self,
        machines: int = 50,
        seed: int = 1,
        start_ms: int = 1_767_225_600_000,  # 2026-01-01T00:00:00Z
        step_seconds: float = 60.0,
        *,
        sites: Sequence[Place] = SITES,
        depots: Sequence[Place] = DEPOTS,
        models: Sequence[MachineModel] = MODELS,
        time_zone: str = "Europe/Rome",
        around_the_clock: bool = False,
        heartbeat_minutes: float = 30.0,
        gps_loss_rate: float = 0.03,
        absence_rate: float = 0.05,
        registry_update_rate: float = 0.02,
        reset_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        late_rate: float = 0.0,
        late_by_seconds: float = 900.0,
        garbage_rate: float = 0.0,
    ) -> None:
        if machines < 1:
            raise ValueError("machines must be at least 1")
        if step_seconds < MIN_STEP_SECONDS:
            raise ValueError(f"step_seconds must be at least {MIN_STEP_SECONDS}")
        if not sites or not depots or not models:
            raise ValueError("sites, depots and models must not be empty")
        rates = {
            "gps_loss_rate": gps_loss_rate,
            "absence_rate": absence_rate,
            "registry_update_rate": registry_update_rate,
            "reset_rate": reset_rate,
            "duplicate_rate": duplicate_rate,
            "late_rate": late_rate,
            "garbage_rate": garbage_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if late_by_seconds <= 0:
            raise ValueError("late_by_seconds must be positive")
        self.start_ms = int(start_ms)
        self.step_ms = round(step_seconds * MS_PER_SECOND)
        self.sites = tuple(sites)
        self.depots = tuple(depots)
        self._places = (*self.sites, *self.depots)
        self._places_by_name = {place.name: place for place in self._places}
        self.zone = ZoneInfo(time_zone)
        self.around_the_clock = around_the_clock
        self.heartbeat_ms = round(heartbeat_minutes * MS_PER_MINUTE)
        self.gps_loss_rate = gps_loss_rate
        self.absence_rate = absence_rate
        self.registry_update_rate = registry_update_rate
        self.reset_rate = reset_rate
        self.duplicate_rate = duplicate_rate
        self.late_rate = late_rate
        self.late_by_ms = round(late_by_seconds * MS_PER_SECOND)
        self.garbage_rate = garbage_rate

        self.counters = SimulationCounters()
        self.resets: list[CounterReset] = []
        # Separate streams: fleet behaviour, faults, counter resets and registry updates each draw
        # from their own, so changing one rate leaves everything else the same for a seed.
        master = random.Random(seed)
        self._fault_rng = random.Random(master.getrandbits(64))
        self._reset_rng = random.Random(master.getrandbits(64))
        self._registry_rng = random.Random(master.getrandbits(64))
        self.machines = [self._new_machine(i, models, master) for i in range(machines)]
        self._step_index = 0
        self._registry_sent = False
        self._late: list[tuple[int, int, SimulatedEvent]] = []
        self._late_seq = 0

    # -- building the fleet ------------------------------------------------------------------------

    def _new_machine(self, index: int, models: Sequence[MachineModel], master: random.Random) -> Machine:
        rng = random.Random(master.getrandbits(64))
        model = rng.choices(models, weights=[m.weight for m in models])[0]
        depot = rng.choice(self.depots)
        regional = [s for s in self.sites if s.region == depot.region]
        if not regional:  # a depot without sites of its own works at the nearest ones
            regional = sorted(
                self.sites, key=lambda s: distance_m(depot.latitude, depot.longitude, s.latitude, s.longitude)
            )[:3]
        sites = rng.sample(regional, min(len(regional), rng.randint(2, 3)))
        hours = rng.uniform(*model.typical_hours)
        km = hours * model.work_kmh * rng.uniform(0.8, 1.2)
        if model.mobility != TRANSPORTED:
            km += hours * rng.uniform(3, 10)  # road travel over the machine's life
        site = sites[0]
        start_place = depot if model.mobility == COMMUTES else site
        serial_number = f"{model.brand[:3].upper()}{model.model.replace(' ', '')}-{rng.randint(10**6, 10**7 - 1)}"
        return Machine(
            identifier=f"{model.prefix}{index + 1:03d}",
            model=model,
            depot=depot,
            sites=sites,
            serial_number=serial_number,
            hourly_rate=round(model.hourly_rate * rng.uniform(0.9, 1.1), 2),
            km_rate=round(model.km_rate * rng.uniform(0.9, 1.1), 2),
            rng=rng,
            phase_ms=rng.randrange(self.step_ms),
            works_saturdays=rng.random() < SATURDAY_PROBABILITY,
            site=site,
            next_site=site,
            parked=(start_place.latitude, start_place.longitude),
            engine_ms=round(hours * MS_PER_HOUR),
            km=round(km, 1),
            fuel_used_l=round(hours * (model.work_lph * 0.7 + model.idle_lph * 0.3), 1),
            fuel_level_l=model.tank_l * rng.uniform(0.3, 1.0),
            accounted_until=self.start_ms,
        )

    # -- planning a day ----------------------------------------------------------------------------

    def _ensure_planned(self, machine: Machine, at: int) -> list[SimulatedEvent]:
        """Plan the machine's days up to ``at``; return registry updates decided at day starts."""
        updates: list[SimulatedEvent] = []
        if machine.next_day is None:
            machine.next_day = datetime.fromtimestamp(self.start_ms / MS_PER_SECOND, self.zone).date()
            machine.planned_until = local_midnight_ms(machine.next_day, self.zone)
        while machine.planned_until <= at:
            first_day = not machine.activities
            self._plan_day(machine, machine.next_day)
            machine.next_day += timedelta(days=1)
            if not first_day and self._registry_rng.random() < self.registry_update_rate:
                updates.append(self._rate_update(machine, at))
        return updates

    def _plan_day(self, machine: Machine, day: date) -> None:
        zone, rng, model = self.zone, machine.rng, machine.model
        day_end = local_midnight_ms(day + timedelta(days=1), zone)
        start = max(local_midnight_ms(day, zone), machine.planned_until)
        # Keep only what the counters have not yet accounted for.
        machine.activities = [a for a in machine.activities if a.end > machine.accounted_until]
        machine.first = 0
        plan = _DayPlanner(start, machine.parked)

        weekday = day.weekday()
        saturday = weekday == 5 and machine.works_saturdays
        working = self.around_the_clock or weekday < 5 or saturday
        working = working and rng.random() >= self.absence_rate
        if machine.fuel_level_l < 0.3 * model.tank_l:  # the fuel bowser comes round before the shift
            machine.fuel_level_l = model.tank_l * rng.uniform(0.95, 1.0)
        if not working:
            plan.stay(OFF, day_end)
            self._commit_plan(machine, plan, day_end)
            return

        site = machine.site = machine.next_site
        if len(machine.sites) > 1 and rng.random() < SITE_CHANGE_PROBABILITY:
            machine.next_site = rng.choice([s for s in machine.sites if s is not site])
        site_point = (site.latitude, site.longitude)
        depot_point = (machine.depot.latitude, machine.depot.longitude)
        commutes = model.mobility == COMMUTES and not self.around_the_clock

        if self.around_the_clock:
            shift_start = start + rng.randint(0, 10) * MS_PER_MINUTE
            shift_end = day_end - rng.randint(1, 10) * MS_PER_MINUTE
        else:
            shift_start = local_time_ms(day, 7, 0, zone) + rng.randint(-20, 20) * MS_PER_MINUTE
            shift_end = local_time_ms(day, 12 if saturday else 17, 0, zone) + rng.randint(-30, 30) * MS_PER_MINUTE
        lunch_start = local_time_ms(day, 12, 0, zone) + rng.randint(0, 30) * MS_PER_MINUTE
        lunch_end = lunch_start + rng.randint(45, 60) * MS_PER_MINUTE
        shift_start = max(shift_start, plan.cursor)
        if self.reset_rate and self._reset_rng.random() < self.reset_rate:
            machine.reset_at = shift_start

        plan.stay(OFF, shift_start)
        plan.stay(IDLE, plan.cursor + rng.randint(5, 15) * MS_PER_MINUTE)  # warm-up
        if model.mobility != TRANSPORTED:
            plan.travel(DRIVE, site_point, model.road_kmh)
        drive_back_ms = 0
        if commutes:
            km = distance_m(*site_point, *depot_point) / 1000 * ROAD_FACTOR
            drive_back_ms = max(MS_PER_MINUTE, round(km / model.road_kmh * MS_PER_HOUR))
        work_end = shift_end - drive_back_ms
        if lunch_start < work_end:
            plan.work(lunch_start, rng)
            plan.stay(OFF, lunch_end)
            if plan.cursor < work_end:  # a Saturday shift ends at lunch
                plan.stay(IDLE, plan.cursor + rng.randint(2, 5) * MS_PER_MINUTE)
        plan.work(work_end, rng)
        if commutes:
            plan.travel(DRIVE, depot_point, model.road_kmh)
        if model.mobility == TRANSPORTED and machine.next_site is not site:
            plan.stay(OFF, plan.cursor + rng.randint(30, 90) * MS_PER_MINUTE)
            plan.travel(TRANSPORT, (machine.next_site.latitude, machine.next_site.longitude), TRANSPORT_KMH)
        plan.stay(OFF, day_end)
        self._commit_plan(machine, plan, max(day_end, plan.cursor))

    def _commit_plan(self, machine: Machine, plan: _DayPlanner, until: int) -> None:
        machine.activities.extend(plan.activities)
        machine.planned_until = until
        machine.parked = plan.position

    # -- counters ----------------------------------------------------------------------------------

    def _account(self, machine: Machine, until: int) -> None:
        """Grow the counters over (accounted_until, until] by what the machine did meanwhile."""
        since = machine.accounted_until
        if until <= since:
            return
        model = machine.model
        activities = machine.activities
        for index in range(machine.first, len(activities)):
            activity = activities[index]
            if activity.start >= until:
                break
            if activity.end <= until:
                machine.first = index + 1  # fully accounted once this pass is done
            a, b = max(since, activity.start), min(until, activity.end)
            if b <= a or activity.mode not in ENGINE_ON:
                continue
            span = b - a
            machine.engine_ms += span
            litres = (model.idle_lph if activity.mode == IDLE else model.work_lph) * span / MS_PER_HOUR
            machine.fuel_used_l += litres
            machine.fuel_level_l -= litres
            if machine.fuel_level_l < 0.05 * model.tank_l:  # nearly dry: refuelled on the spot
                machine.fuel_level_l = model.tank_l * machine.rng.uniform(0.95, 1.0)
            if activity.mode == DRIVE:
                machine.km += activity.road_km * span / (activity.end - activity.start)
            elif activity.mode == WORK:
                machine.km += model.work_kmh * span / MS_PER_HOUR
        machine.accounted_until = until

    def _reset_counters(self, machine: Machine, at: int) -> None:
        # A new ECU: hours, km and fuel used start again from zero.
        machine.engine_ms = 0
        machine.km = 0.0
        machine.fuel_used_l = 0.0
        machine.reset_at = None
        self.resets.append(CounterReset(machine.identifier, at))
        self.counters.resets += 1

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

    def _machine_step(self, machine: Machine, at: int) -> list[SimulatedEvent]:
        events = self._ensure_planned(machine, at)
        if machine.reset_at is not None and at >= machine.reset_at:
            reset_at = max(machine.reset_at, machine.accounted_until)
            self._account(machine, reset_at)
            self._reset_counters(machine, reset_at)
        self._account(machine, at)
        activity = machine.activity_at(at)
        running = activity.mode in ENGINE_ON
        due = (
            running
            or machine.engine_was_on  # the report at key-off
            or machine.last_report is None  # a box reports when it connects
            or at - machine.last_report >= self.heartbeat_ms
        )
        machine.engine_was_on = running
        if not due:
            return events
        machine.last_report = at
        value = self._telemetry(machine, activity, at)
        original = SimulatedEvent(TELEMETRY, machine.identifier, value, at, at, activity=activity.mode)
        sent = [original]
        faults = self._fault_rng
        if faults.random() < self.duplicate_rate:
            sent.append(replace(original, duplicate=True))
        if faults.random() < self.late_rate:
            delay = faults.randint(min(self.step_ms, self.late_by_ms), self.late_by_ms)
            sent = [replace(e, late=True, emitted_at=at + delay) for e in sent]
        if faults.random() < self.garbage_rate:
            sent.append(self._garbage(machine.identifier, at))
        return events + sent

    def _count(self, event: SimulatedEvent) -> SimulatedEvent:
        self.counters.add(event)
        return event

    def events(self, until_ms: int | None = None) -> Iterator[SimulatedEvent]:
        """Yield events in the order they are sent (``emitted_at``), forever or until ``until_ms``.

        First one registry record per machine, then telemetry and garbage, with occasional
        registry updates. Late messages come out when their time is due; when ``until_ms`` is
        reached, those still held back are flushed. Calling again continues where it stopped.
        """
        if not self._registry_sent:
            self._registry_sent = True
            for machine in self.machines:
                record = self.registry_record(machine, self.start_ms)
                yield self._count(SimulatedEvent(REGISTRY, machine.identifier, record, self.start_ms, self.start_ms))
        late = self._late
        while True:
            step_start = self.start_ms + self._step_index * self.step_ms
            if until_ms is not None and step_start >= until_ms:
                break
            self._step_index += 1
            batch: list[SimulatedEvent] = []
            for machine in self.machines:
                at = step_start + machine.phase_ms
                if until_ms is None or at < until_ms:
                    batch.extend(self._machine_step(machine, at))
            batch.sort(key=lambda e: e.emitted_at)  # stable: a duplicate stays after its original
            for event in batch:
                if event.late:
                    self._late_seq += 1
                    heapq.heappush(late, (event.emitted_at, self._late_seq, event))
                    continue
                while late and late[0][0] <= event.emitted_at:
                    yield self._count(heapq.heappop(late)[2])
                yield self._count(event)
        while late:
            yield self._count(heapq.heappop(late)[2])


def utc_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * MS_PER_SECOND)
