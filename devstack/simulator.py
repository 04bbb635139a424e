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

The world (places, models, machines) is ``devstack.fleet``; the messages ``devstack.fleet_messages``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from devstack.fleet import (
    COMMUTES,
    DEPOTS,
    DRIVE,
    ENGINE_ON,
    IDLE,
    MIN_STEP_SECONDS,
    MODELS,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    MS_PER_SECOND,
    OFF,
    OVERTIME_PROBABILITY,
    REGISTRY,
    ROAD_FACTOR,
    SATURDAY_PROBABILITY,
    SIMULATED_FLEET_TIME_ZONE,
    SITE_CHANGE_PROBABILITY,
    SITES,
    TELEMETRY,
    TRANSPORT,
    TRANSPORT_KMH,
    TRANSPORTED,
    WORK,
    CounterReset,
    Machine,
    MachineModel,
    Place,
    SimulatedEvent,
    SimulationCounters,
    _DayPlanner,
    distance_m,
    local_midnight_ms,
    local_time_ms,
)
from devstack.fleet_messages import FleetMessages

# --- the simulator -------------------------------------------------------------------------------


class FleetSimulator(FleetMessages):
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
        time_zone: str = SIMULATED_FLEET_TIME_ZONE,
        around_the_clock: bool = False,
        around_the_clock_share: float = 0.0,
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
            "around_the_clock_share": around_the_clock_share,
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
        self.around_the_clock_share = 1.0 if around_the_clock else around_the_clock_share  # drawn per machine
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
        identifier = f"{model.prefix}{index + 1:03d}"
        return Machine(
            identifier=identifier,
            model=model,
            depot=depot,
            sites=sites,
            serial_number=serial_number,
            hourly_rate=round(model.hourly_rate * rng.uniform(0.9, 1.1), 2),
            km_rate=round(model.km_rate * rng.uniform(0.9, 1.1), 2),
            rng=rng,
            phase_ms=rng.randrange(self.step_ms),
            works_saturdays=rng.random() < SATURDAY_PROBABILITY,
            around_the_clock=random.Random(f"around the clock {identifier}").random() < self.around_the_clock_share,
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
        working = machine.around_the_clock or weekday < 5 or saturday
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
        commutes = model.mobility == COMMUTES and not machine.around_the_clock

        if machine.around_the_clock:
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
        # Now and then an evening of overtime (off-hours use for utilisation and alerts). Its own
        # generator, seeded by machine and day, so that every other draw of the fleet stays as it was.
        overtime = random.Random(f"overtime {machine.identifier} {day}")
        if not machine.around_the_clock and not saturday and overtime.random() < OVERTIME_PROBABILITY:
            work_end += overtime.randint(60, 150) * MS_PER_MINUTE
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
