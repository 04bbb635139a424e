"""Traces for the utilisation tests: readings of one machine built minute by minute from a plan of
activities (work, idle, off), as records of the telemetry topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.factories import telemetry

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
ROME = ZoneInfo("Europe/Rome")


def ms(text: str, zone: ZoneInfo = ROME) -> int:
    """Epoch ms of a local time 'YYYY-MM-DD HH:MM[:SS]' in ``zone``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp() * 1000)


@dataclass
class Trace:
    """A machine's counters as a plan of activities runs; ``readings`` are telemetry records."""

    machine: str
    model: str
    start: int
    hours: float = 100.0
    km: float = 5000.0
    fuel: float = 1000.0
    lat: float = 45.46
    lon: float = 9.19
    site: str | None = "Cantiere A"
    step_ms: int = 5 * MINUTE_MS
    t: int = 0

    def __post_init__(self) -> None:
        self.t = self.start
        self.points: list[dict] = []
        self.flags: list[bool] = []  # engine running from each point until the next
        self.point()

    def point(self) -> None:
        self.points.append(
            {"t": self.t, "hours": self.hours, "km": self.km, "fuel": self.fuel, "lat": self.lat, "lon": self.lon}
        )

    @property
    def readings(self) -> list[dict]:
        """The telemetry records: each says whether the engine runs from it until the next reading."""
        flags = [*self.flags, self.flags[-1] if self.flags else False]
        return [
            telemetry(
                self.machine,
                point["t"],
                hours=round(point["hours"], 6),
                km=round(point["km"], 6),
                running=flag,
                fuel_used=round(point["fuel"], 6),
                latitude=point["lat"],
                longitude=point["lon"],
                pois=[self.site] if self.site else [],
                model=self.model,
            )
            for point, flag in zip(self.points, flags, strict=True)
        ]

    def run(self, mode: str, duration_ms: int, step_ms: int | None = None) -> Trace:
        """``mode`` for ``duration_ms``: "work" (engine on, moving 60 m and 0.06 km per step), "idle"
        (engine on, still), "off"; a reading at the end of every step."""
        step = step_ms or self.step_ms
        end = self.t + duration_ms
        while self.t < end:
            dt = min(step, end - self.t)
            self.flags.append(mode != "off")
            self.t += dt
            if mode != "off":
                self.hours += dt / HOUR_MS
                self.fuel += 10.0 * dt / HOUR_MS
            if mode == "work":
                self.km += 0.06
                self.lat += 0.00054  # about 60 m north
            self.point()
        return self

    def silence(self, duration_ms: int, running: bool = False) -> Trace:
        """No reading for ``duration_ms`` (the counters as if ``running`` all along), then one."""
        self.flags.append(running)
        self.t += duration_ms
        if running:
            self.hours += duration_ms / HOUR_MS
        self.point()
        return self
