"""Simulated days: PV, house load and a car, second by second, for `wallbox simulate`.

A `Day` holds one value per second for PV production and house consumption (the house without
the wallbox), from `start_s` to `end_s` seconds after local midnight, and a `CarModel` that says
when the car is plugged in and how much energy it still wants. Every model is seeded
(`random.Random(seed)`): the same profile and seed give the same day, so a figure in the README
can be reproduced and a failing property test can be replayed.

Built-in profiles (`PROFILES`):

- `clear`: a clear summer day (21 June); PV is a bell from sunrise 05:10 to sunset 21:30 peaking
  at 9 kW; the car is plugged in 08:00-18:00 and wants 40 kWh.
- `cloudy`: the same sun with cloud shadows passing: shadows of 5 s to 6 min (log-uniform), gaps
  between them exponential with a mean of 4 min, 2-10 s edges, 15-55 % of the light left in the
  shadow. The wallbox sees a shadow only at the next push.
- `winter`: 21 December, sun from 08:15 to 16:15 peaking at 5 kW; plugged 08:00-18:00.
- `evening-peak`: the clear day's PV, the car plugged in 16:00-23:00, and an oven drawing 3 kW for
  40 min starting between 17:20 and 17:40 while the car charges.

House load (every profile): a base load of 250-350 W, a fridge compressor of 90 W for about 15
of every 45 minutes, and appliance events with seeded times: kettle at breakfast, cooking at noon
and in the evening, a washing machine heating for 15 min at a random daytime hour, small loads
(TV, computer) in the evening.

`load_profile_csv(path)` reads a measured day instead: columns `timestamp,pv_w,house_w` with a
header row; a timestamp is ISO 8601 (`2026-06-21T12:00:00`, `12:00`, `12:00:30`) or seconds after
local midnight. Between rows the values are interpolated linearly; before the first row and after
the last one they are held.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

SECONDS_PER_DAY = 86_400


def hms(text: str) -> int:
    """'08:30' or '08:30:15' -> seconds after midnight."""
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.append(0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


@dataclass(frozen=True)
class CarModel:
    """A car that is plugged in from `plugged_from_s` until `plugged_until_s` (seconds after local
    midnight) and draws the wallbox's setpoint, limited to its own `max_current_a`, on every phase
    until it has taken `need_wh`. It follows a new setpoint within the same second (real cars take
    a few seconds; the appliance's figures do not depend on that)."""

    plugged_from_s: float = hms("08:00")
    plugged_until_s: float = hms("18:00")
    need_wh: float = 40_000.0
    max_current_a: int = 32

    def plugged(self, t_s: float) -> bool:
        return self.plugged_from_s <= t_s < self.plugged_until_s


@dataclass
class Day:
    """PV and house load per second for the seconds [start_s, end_s) after local midnight.

    `pv_w[i]` and `house_w[i]` hold for the whole second `start_s + i`."""

    name: str
    day: date
    start_s: int
    end_s: int
    pv_w: list[float]
    house_w: list[float]
    car: CarModel
    description: str = ""

    def __post_init__(self) -> None:
        n = self.end_s - self.start_s
        if n <= 0 or len(self.pv_w) != n or len(self.house_w) != n:
            raise ValueError(f"day {self.name}: {n} seconds but {len(self.pv_w)} PV and "
                             f"{len(self.house_w)} house values")

    def pv_at(self, t_s: int) -> float:
        return self.pv_w[t_s - self.start_s]

    def house_at(self, t_s: int) -> float:
        return self.house_w[t_s - self.start_s]


# ---------------------------------------------------------------------------------------------
# PV


def clear_sky_pv(t_s: float, sunrise_s: float, sunset_s: float, peak_w: float) -> float:
    """A clear-sky bell: 0 outside daylight, sin^1.5 of the sun's progress inside, peak at noon."""
    if not sunrise_s < t_s < sunset_s:
        return 0.0
    return peak_w * math.sin(math.pi * (t_s - sunrise_s) / (sunset_s - sunrise_s)) ** 1.5


@dataclass(frozen=True)
class Shadow:
    """A cloud shadow: light drops to `transmission` over `edge_s`, stays, and comes back."""

    start_s: float
    duration_s: float
    transmission: float
    edge_s: float

    def factor(self, t_s: float) -> float:
        end_s = self.start_s + self.duration_s
        if t_s <= self.start_s or t_s >= end_s:
            return 1.0
        depth = 1.0 - self.transmission
        ramp = min(t_s - self.start_s, end_s - t_s) / self.edge_s
        return 1.0 - depth * min(1.0, ramp)


def cloud_shadows(rng: random.Random, from_s: float, until_s: float, *, mean_gap_s: float = 240.0,
                  min_duration_s: float = 5.0, max_duration_s: float = 360.0) -> list[Shadow]:
    """Shadows between from_s and until_s: exponential gaps, log-uniform durations."""
    shadows = []
    t = from_s + rng.expovariate(1.0 / mean_gap_s)
    log_lo, log_hi = math.log(min_duration_s), math.log(max_duration_s)
    while t < until_s:
        duration_s = math.exp(rng.uniform(log_lo, log_hi))
        edge_s = min(rng.uniform(2.0, 10.0), duration_s / 2)
        shadows.append(Shadow(t, duration_s, rng.uniform(0.15, 0.55), edge_s))
        t += duration_s + rng.expovariate(1.0 / mean_gap_s)
    return shadows


def _pv_series(start_s: int, end_s: int, sunrise_s: float, sunset_s: float, peak_w: float,
               shadows: list[Shadow] = ()) -> list[float]:
    pv = [clear_sky_pv(t + 0.5, sunrise_s, sunset_s, peak_w) for t in range(start_s, end_s)]
    for sh in shadows:
        lo = max(start_s, math.floor(sh.start_s))
        hi = min(end_s, math.ceil(sh.start_s + sh.duration_s))
        for t in range(lo, hi):
            pv[t - start_s] *= sh.factor(t + 0.5)
    return pv


# ---------------------------------------------------------------------------------------------
# House


@dataclass(frozen=True)
class Load:
    """An appliance drawing `power_w` from `start_s` for `duration_s`."""

    name: str
    start_s: float
    duration_s: float
    power_w: float


def house_loads(rng: random.Random) -> tuple[float, list[Load]]:
    """The base load and a day's appliance events (seeded)."""
    base_w = rng.uniform(250.0, 350.0)
    loads: list[Load] = []
    # Fridge: about 15 min of every 45, starting at a random phase.
    t = rng.uniform(0, 2700)
    while t < SECONDS_PER_DAY:
        on_s = rng.uniform(600, 1200)
        loads.append(Load("fridge", t, on_s, 90.0))
        t += on_s + rng.uniform(1500, 2100)
    jitter = lambda s: rng.uniform(-s, s)  # noqa: E731 - a local shorthand
    loads += [
        Load("kettle", hms("07:00") + jitter(1200), 180, 2000.0),
        Load("coffee", hms("07:10") + jitter(1200), 90, 1200.0),
        Load("stove", hms("12:00") + jitter(1800), 1500, 1800.0),
        Load("washing machine", rng.uniform(hms("09:00"), hms("16:00")), 900, 2000.0),
        Load("dishwasher", hms("13:30") + jitter(1800), 1200, 1900.0),
        Load("stove", hms("18:45") + jitter(1200), 1800, 2200.0),
        Load("tv", hms("19:30") + jitter(1800), 3 * 3600, 150.0),
        Load("computer", rng.uniform(hms("08:00"), hms("15:00")), 3 * 3600, 120.0),
    ]
    # A few short loads anywhere in the waking hours (hair dryer, toaster, vacuum cleaner).
    for _ in range(rng.randint(2, 5)):
        loads.append(Load("small", rng.uniform(hms("06:30"), hms("22:30")), rng.uniform(60, 600),
                          rng.uniform(600, 1500)))
    return base_w, loads


def _house_series(start_s: int, end_s: int, base_w: float, loads: list[Load]) -> list[float]:
    house = [base_w] * (end_s - start_s)
    for load in loads:
        lo = max(start_s, math.floor(load.start_s))
        hi = min(end_s, math.ceil(load.start_s + load.duration_s))
        for t in range(lo, hi):
            house[t - start_s] += load.power_w
    return house


# ---------------------------------------------------------------------------------------------
# Profiles


def _span(start_s: int, end_s: int | None) -> tuple[int, int]:
    end_s = SECONDS_PER_DAY if end_s is None else end_s
    if not 0 <= start_s < end_s <= SECONDS_PER_DAY:
        raise ValueError(f"a day span must lie within 0..{SECONDS_PER_DAY} s, got {start_s}..{end_s}")
    return start_s, end_s


def clear_day(seed: int = 1, start_s: int = 0, end_s: int | None = None, *,
              car: CarModel | None = None) -> Day:
    start_s, end_s = _span(start_s, end_s)
    rng = random.Random(f"clear/{seed}")
    base_w, loads = house_loads(rng)
    return Day("clear", date(2026, 6, 21), start_s, end_s,
               _pv_series(start_s, end_s, hms("05:10"), hms("21:30"), 9000.0),
               _house_series(start_s, end_s, base_w, loads), car or CarModel(),
               "clear summer day, 9 kW peak PV, car plugged 08:00-18:00 wanting 40 kWh")


def cloudy_day(seed: int = 1, start_s: int = 0, end_s: int | None = None, *,
               car: CarModel | None = None) -> Day:
    start_s, end_s = _span(start_s, end_s)
    rng = random.Random(f"cloudy/{seed}")
    base_w, loads = house_loads(rng)
    sunrise_s, sunset_s = hms("05:10"), hms("21:30")
    shadows = cloud_shadows(rng, sunrise_s, sunset_s)
    return Day("cloudy", date(2026, 6, 22), start_s, end_s,
               _pv_series(start_s, end_s, sunrise_s, sunset_s, 9000.0, shadows),
               _house_series(start_s, end_s, base_w, loads), car or CarModel(),
               f"summer day with {len(shadows)} cloud shadows of 5 s to 6 min, 9 kW peak PV, "
               "car plugged 08:00-18:00 wanting 40 kWh")


def winter_day(seed: int = 1, start_s: int = 0, end_s: int | None = None, *,
               car: CarModel | None = None) -> Day:
    start_s, end_s = _span(start_s, end_s)
    rng = random.Random(f"winter/{seed}")
    base_w, loads = house_loads(rng)
    return Day("winter", date(2026, 12, 21), start_s, end_s,
               _pv_series(start_s, end_s, hms("08:15"), hms("16:15"), 5000.0),
               _house_series(start_s, end_s, base_w, loads), car or CarModel(),
               "short winter day, 5 kW peak PV, car plugged 08:00-18:00 wanting 40 kWh")


def evening_peak_day(seed: int = 1, start_s: int = 0, end_s: int | None = None, *,
                     car: CarModel | None = None) -> Day:
    start_s, end_s = _span(start_s, end_s)
    rng = random.Random(f"evening-peak/{seed}")
    base_w, loads = house_loads(rng)
    oven_start_s = rng.uniform(hms("17:20"), hms("17:40"))
    loads.append(Load("oven", oven_start_s, 40 * 60, 3000.0))
    car = car or CarModel(plugged_from_s=hms("16:00"), plugged_until_s=hms("23:00"))
    return Day("evening-peak", date(2026, 6, 23), start_s, end_s,
               _pv_series(start_s, end_s, hms("05:10"), hms("21:30"), 9000.0),
               _house_series(start_s, end_s, base_w, loads), car,
               f"clear day, car plugged 16:00-23:00 wanting 40 kWh, a 3 kW oven for 40 min from "
               f"{_clock(oven_start_s)}")


def _clock(t_s: float) -> str:
    t = int(t_s)
    return f"{t // 3600:02d}:{t // 60 % 60:02d}"


PROFILES = {
    "clear": clear_day,
    "cloudy": cloudy_day,
    "winter": winter_day,
    "evening-peak": evening_peak_day,
}


def build_day(profile: str, seed: int = 1, start_s: int = 0, end_s: int | None = None, *,
              car: CarModel | None = None) -> Day:
    """A built-in profile by name, or a CSV file's day if `profile` is a path ending in .csv."""
    if profile in PROFILES:
        return PROFILES[profile](seed, start_s, end_s, car=car)
    if profile.lower().endswith(".csv"):
        day = load_profile_csv(profile, car=car)
        if (start_s, end_s) != (0, None):
            s, e = _span(start_s, end_s)
            day = Day(day.name, day.day, s, e, day.pv_w[s:e], day.house_w[s:e], day.car,
                      day.description)
        return day
    raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)} "
                     "or a file name ending in .csv")


# ---------------------------------------------------------------------------------------------
# CSV


# The measured-day loader lives in its own module; imported last, as it builds on Day and CarModel.
from .profile_csv import ProfileError, load_profile_csv  # noqa: E402,F401
