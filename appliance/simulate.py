"""`wallbox simulate`: the real charging policy over a simulated day, second by second.

The day (appliance/sim/day.py) gives PV, house load and a car for every second. Every `step_s`
seconds the inverter pushes a measurement: the appliance sees that moment's PV, the grid meter's
reading (grid = house + car - PV; no reading with `meter=False`) and the car's power, and the
policy (`Controller.decide`, the code the service runs) sets the wallbox's current. Between pushes
PV and house keep changing second by second while the setpoint stays: a PV drop between two
pushes is unknown to the appliance until the next push, just as on the real installation. The car
follows a new setpoint within the same second.

Bookkeeping, per simulated second (all powers in W, energies summed over seconds):

- car_w: what the car draws: min(setpoint, car's max) x phases x voltage while it is plugged in
  and still needs energy, else 0.
- PV into the car: min(car_w, max(0, pv_w - house_w)); the house uses PV first.
- PV surplus left unused: max(0, pv_w - house_w - car_w) (exported to the grid).
- Grid import by the wallbox above the allowance (safety rule 2): over_w = max(0, car_w -
  allowance_w - pv_w). The part of it that the last push already made known is
  known_w = max(0, car_w - allowance_w - pv_known_w) with pv_known_w the PV of the latest push
  (0 once that is `stale_after_s` old). `outside` = min(over_w, known_w): the setpoint broke the
  rule for what the appliance knew; the target is 0. `in_drop_interval` = over_w - outside: PV
  fell after the latest push and the appliance cannot know it before the next push, so this part
  always lies within one push interval after a PV drop.
- Import limit (safety rule 3, with a grid meter and grid.import_limit_w > 0): the wallbox's part of
  the house's import above the limit, over_w = min(car_w, max(0, house_w + car_w - pv_w - limit)),
  split the same way with the house load and PV of the latest push.
- Takeable PV surplus (the yardstick for pv mode): while the car is plugged in and still needs
  energy, the surplus s = pv_w - house_w that a car drawing min..max A on every phase could take:
  0 when s is below the minimum current's worth, s capped at the maximum current's worth otherwise.
  `taken` = min(PV into the car, takeable); the share is taken / takeable.
- starts and stops: the car's power going from 0 to more than 0 and back; setpoint changes: pushes
  after which the setpoint differs from before.

The naive rule (`rule="naive"`) for comparison sets, at each push, setpoint = (allowance + PV) /
(phases x voltage) in fast mode, surplus / (phases x voltage) in pv mode, max(minimum, that) in
minpv mode, clamped to 0 or min..max A; no delays, no raise limit.

Schedule windows: the mode at each push is `mode_in_force(mode, settings.control.schedule,
local wall-clock time)`. The simulated second t is the real instant local midnight + t s, turned
into the local time of `control.timezone` ("" = no time zone, wall clock = t). On a day the clocks
change, a window is in force while the local wall-clock time lies inside it (see mode_in_force).
"""

from __future__ import annotations

import argparse
import math
import sys
import time as time_mod
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import EXAMPLE_PATH, ConfigError, Settings, load_settings, parse_settings
from .control import MODES, Controller, Inputs, PolicySettings, clamp_current, mode_in_force
from .sim.day import PROFILES, Day, ProfileError, build_day

RULES = ("ours", "naive")


@dataclass(frozen=True)
class Push:
    """One push as the appliance saw it, and the setpoint it chose. The physical values are the
    simulation's own (what a checker compares against), not the policy's."""

    t_s: int
    mode: str                 # the mode in force at this push
    pv_w: float
    house_w: float
    grid_w: float | None      # None without a grid meter
    car_w: float              # the car's draw when the push arrived (old setpoint)
    plugged: bool
    needs_energy: bool
    setpoint_before_a: int
    setpoint_a: int           # chosen at this push, in force until the next push


@dataclass
class DayResult:
    """The figures of one simulated day (see the module docstring for the bookkeeping)."""

    profile: str
    mode: str
    rule: str
    step_s: int
    meter: bool
    car_kwh: float = 0.0
    pv_to_car_kwh: float = 0.0
    pv_unused_kwh: float = 0.0
    takeable_kwh: float = 0.0
    taken_kwh: float = 0.0
    over_allowance_in_drop_interval_wh: float = 0.0
    over_allowance_in_drop_interval_s: int = 0
    over_allowance_outside_wh: float = 0.0
    over_allowance_outside_s: int = 0
    over_import_limit_in_drop_interval_wh: float = 0.0
    over_import_limit_in_drop_interval_s: int = 0
    over_import_limit_outside_wh: float = 0.0
    over_import_limit_outside_s: int = 0
    starts: int = 0
    stops: int = 0
    setpoint_changes: int = 0
    need_left_kwh: float = 0.0
    run_time_s: float = 0.0
    pushes: list[Push] = field(default_factory=list, repr=False)
    car_w: list[float] = field(default_factory=list, repr=False)  # per second, for charts/checks

    @property
    def takeable_share(self) -> float | None:
        """Share of the takeable PV surplus that went into the car, None if there was none."""
        return self.taken_kwh / self.takeable_kwh if self.takeable_kwh > 1e-3 else None


class NaiveRule:
    """Setpoint straight from each sample: no delays, no raise limit (for comparison only)."""

    def __init__(self, cfg: PolicySettings):
        self.cfg = cfg

    def decide(self, mode: str, pv_w: float, grid_w: float | None, car_w: float) -> int:
        cfg = self.cfg
        wpa = cfg.watts_per_amp
        if mode == "fast":
            return clamp_current((cfg.allowance_w + pv_w) / wpa, cfg.min_current_a, cfg.max_current_a)
        if mode in ("pv", "minpv"):
            surplus_w = car_w - grid_w if grid_w is not None else pv_w - cfg.house_base_load_w
            amps = surplus_w / wpa
            if mode == "minpv":
                amps = max(cfg.min_current_a, amps)
            return clamp_current(amps, cfg.min_current_a, cfg.max_current_a)
        return 0


class LocalClock:
    """Simulated second (real seconds since local midnight) -> local wall-clock datetime."""

    def __init__(self, day, tz_name: str):
        self.tz = ZoneInfo(tz_name) if tz_name else None
        if self.tz is None:
            self.midnight = datetime.combine(day, time(0))
        else:
            self.midnight = datetime.combine(day, time(0), tzinfo=self.tz).astimezone(timezone.utc)

    def local(self, t_s: float) -> datetime:
        instant = self.midnight + timedelta(seconds=t_s)
        return instant if self.tz is None else instant.astimezone(self.tz)


def default_settings() -> Settings:
    """The example settings file with a placeholder FTP password (the simulation needs none)."""
    import tomllib

    raw = tomllib.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
    raw.setdefault("fronius", {})["ftp_password"] = "simulation"
    return parse_settings(raw, str(EXAMPLE_PATH))


def simulate_day(day: Day, settings: Settings, *, mode: str | None = None, step_s: int = 10,
                 meter: bool = True, rule: str = "ours", keep_pushes: bool = True) -> DayResult:
    """Runs one day; see the module docstring for what is counted and how."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if step_s < 1:
        raise ValueError(f"step_s must be at least 1 s, got {step_s}")
    started = time_mod.perf_counter()
    cfg = PolicySettings.from_settings(settings)
    base_mode = mode or settings.control.mode
    if base_mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {base_mode!r}")
    schedule = settings.control.schedule
    clock = LocalClock(day.day, settings.control.timezone) if schedule else None
    controller = Controller(cfg)
    naive = NaiveRule(cfg)

    wpa = cfg.watts_per_amp
    allowance_w = cfg.allowance_w
    limit_w = cfg.import_limit_w if meter else 0.0
    stale_s = cfg.stale_after_s
    car = day.car
    car_max_a = car.max_current_a
    min_w = cfg.min_current_a * wpa
    cap_w = min(cfg.max_current_a, car_max_a) * wpa
    need_wh = car.need_wh

    res = DayResult(day.name, base_mode, rule, step_s, meter)
    pushes = res.pushes
    car_series = res.car_w
    setpoint_a = 0
    last_push_s = -math.inf
    pv_known_w = house_known_w = 0.0
    prev_car_w = 0.0
    car_wh = pv_car_wh = unused_wh = takeable_wh = taken_wh = 0.0
    ov_in_wh = ov_out_wh = il_in_wh = il_out_wh = 0.0
    ov_in_s = ov_out_s = il_in_s = il_out_s = 0
    pv_w_series, house_series = day.pv_w, day.house_w
    start_s = day.start_s
    plug_from, plug_until = car.plugged_from_s, car.plugged_until_s

    for i in range(day.end_s - start_s):
        t = start_s + i
        pv = pv_w_series[i]
        house = house_series[i]
        plugged = plug_from <= t < plug_until
        needs = plugged and need_wh > 1e-9
        if i % step_s == 0:
            car_now_w = min(setpoint_a, car_max_a) * wpa if needs else 0.0
            grid_w = house + car_now_w - pv if meter else None
            mode_now = base_mode
            if clock is not None:
                mode_now, _ = mode_in_force(base_mode, schedule, clock.local(t))
            before = setpoint_a
            if rule == "ours":
                setpoint_a = controller.decide(Inputs(
                    now_s=float(t), mode=mode_now, pv_w=pv, pv_at_s=float(t), grid_w=grid_w,
                    grid_at_s=float(t) if meter else None, car_w=car_now_w, car_connected=plugged,
                )).setpoint_a
            else:
                setpoint_a = naive.decide(mode_now, pv, grid_w, car_now_w)
            if setpoint_a != before:
                res.setpoint_changes += 1
            last_push_s, pv_known_w, house_known_w = t, pv, house
            if keep_pushes:
                pushes.append(Push(t, mode_now, pv, house, grid_w, car_now_w, plugged, needs,
                                   before, setpoint_a))
        car_w = min(setpoint_a, car_max_a) * wpa if needs else 0.0
        if car_w > need_wh * 3600.0:
            car_w = need_wh * 3600.0
        need_wh -= car_w / 3600.0
        car_series.append(car_w)
        if (car_w > 0) != (prev_car_w > 0):
            if car_w > 0:
                res.starts += 1
            else:
                res.stops += 1
        prev_car_w = car_w

        surplus = pv - house
        pv_car = min(car_w, surplus) if surplus > 0 else 0.0
        car_wh += car_w
        pv_car_wh += pv_car
        if surplus > car_w:
            unused_wh += surplus - car_w
        if needs and surplus >= min_w:
            take = surplus if surplus < cap_w else cap_w
            takeable_wh += take
            taken_wh += pv_car if pv_car < take else take

        fresh = t - last_push_s < stale_s
        over = car_w - allowance_w - pv
        if over > 0:
            known = car_w - allowance_w - (pv_known_w if fresh else 0.0)
            out = min(over, known) if known > 0 else 0.0
            if out > 0:
                ov_out_wh += out
                ov_out_s += 1
            if over - out > 1e-9:
                ov_in_wh += over - out
                ov_in_s += 1
        if limit_w > 0 and car_w > 0:
            over = min(car_w, house + car_w - pv - limit_w)
            if over > 0:
                known_house = house_known_w if fresh else math.inf
                known = min(car_w, known_house + car_w - (pv_known_w if fresh else 0.0) - limit_w)
                out = min(over, known) if known > 0 else 0.0
                if out > 0:
                    il_out_wh += out
                    il_out_s += 1
                if over - out > 1e-9:
                    il_in_wh += over - out
                    il_in_s += 1

    res.car_kwh = car_wh / 3.6e6
    res.pv_to_car_kwh = pv_car_wh / 3.6e6
    res.pv_unused_kwh = unused_wh / 3.6e6
    res.takeable_kwh = takeable_wh / 3.6e6
    res.taken_kwh = taken_wh / 3.6e6
    res.over_allowance_in_drop_interval_wh = ov_in_wh / 3600
    res.over_allowance_in_drop_interval_s = ov_in_s
    res.over_allowance_outside_wh = ov_out_wh / 3600
    res.over_allowance_outside_s = ov_out_s
    res.over_import_limit_in_drop_interval_wh = il_in_wh / 3600
    res.over_import_limit_in_drop_interval_s = il_in_s
    res.over_import_limit_outside_wh = il_out_wh / 3600
    res.over_import_limit_outside_s = il_out_s
    res.need_left_kwh = max(0.0, need_wh) / 1000
    res.run_time_s = time_mod.perf_counter() - started
    return res
