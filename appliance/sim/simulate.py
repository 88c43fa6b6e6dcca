"""`wallbox simulate`: the appliance's core over a simulated day, second by second.

The day (appliance/sim/day.py) gives PV, house load and a car for every second. Every `step_s`
seconds the inverter pushes a measurement: the appliance sees that moment's PV and the grid meter's
reading (grid = house + car - PV; no reading with `meter=False`). The wallbox reports the car's
power as a charger reading when it changes and every READ_EVERY_S seconds. The core
(`ApplianceCore`, the code the service runs, stepped with the simulated clock) ticks and sets the
wallbox's current as the service's control loop does: at a push or a wallbox report, at the core's
own next deadline (`ApplianceCore.next_deadline_s`), and after `cycle_s` seconds at the latest
(default 5 s, the service's look at the wallbox; cycle_s=1 ticks every second, which gives the same
day second by second, a property test checks). PV and house keep changing second by second: a PV
drop between two pushes is unknown to the appliance until the next push, just as on the real
installation. The car follows a new setpoint within the same second.

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

import math
import time as time_mod
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..chargers.base import ChargerHealth, ChargerReading
from ..config import EXAMPLE_PATH, Settings, parse_settings
from ..core import ApplianceCore, Clocks
from ..core_deadline import MARGIN_S
from ..policy.control import PolicySettings, clamp_current
from ..policy.schedule import mode_in_force
from ..policy.types import MODES
from ..sources.fronius import Measurement
from .day import Day

RULES = ("ours", "naive")
READ_EVERY_S = 5  # the simulated wallbox reports an unchanged car this often (stale after 10 s)
CHARGER_LOOK_S = 5  # the control loop's longest sleep, as appliance.runtime.CHARGER_LOOK_S
_NO_CLOCK = datetime(2000, 1, 1)  # the local time when no schedule needs one


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
    setpoint_a: list[int] = field(default_factory=list, repr=False)  # per second, after the cycle

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


class LoopPace:
    """When the service would run the core with a simulated wallbox and inverter: the wallbox
    reports when the car changes and every READ_EVERY_S seconds; the control loop runs at such a
    report or a push, at the core's own next deadline, and after `longest_s` at the latest."""

    def __init__(self, longest_s: float):
        self.longest_s = longest_s
        self._reported: tuple | None = None
        self._reported_at_s = -math.inf
        self._next_tick_s = -math.inf

    def report_due(self, t: float, car_w: float, plugged: bool) -> bool:
        return (car_w, plugged) != self._reported or t - self._reported_at_s >= READ_EVERY_S

    def reported(self, t: float, car_w: float, plugged: bool) -> None:
        self._reported, self._reported_at_s = (car_w, plugged), t

    def due(self, t: float, car_w: float, plugged: bool) -> bool:
        """True when the loop runs at second t although no push arrived."""
        return t >= self._next_tick_s or self.report_due(t, car_w, plugged)

    def ticked(self, core: ApplianceCore, clocks: Clocks) -> None:
        """After a tick at clocks.mono_s: the loop sleeps until the core's next deadline, rounded up
        to the next whole simulated second (deadlines are met a millisecond late), or longest_s."""
        self._next_tick_s = min(clocks.mono_s + self.longest_s,
                                math.ceil(core.next_deadline_s(clocks) - MARGIN_S))


class _Appliance:
    """What decides at a push or cycle: the appliance's core (rule "ours"), fed as on the real
    installation (a wallbox reading, the push, a tick with the simulated clock), or the naive rule."""

    def __init__(self, cfg: PolicySettings, rule: str, base_mode: str, schedule, clock, meter: bool,
                 cycle_s: int):
        self.rule, self.base_mode, self.schedule, self.clock, self.meter = rule, base_mode, schedule, clock, meter
        self.wpa = cfg.watts_per_amp
        self.core = ApplianceCore(cfg, default_mode=base_mode, schedule=schedule, logger=None)
        self.naive = NaiveRule(cfg)
        self.link_up = ChargerHealth(connected=True, holding=True)
        self.pace = LoopPace(cycle_s)

    def decide(self, t: int, push: bool, pv: float, pushed_grid: float | None, car_now_w: float,
               plugged: bool) -> tuple[int, str]:
        """(setpoint_a, mode in force) for second t."""
        local = self.clock.local(t) if self.clock is not None else _NO_CLOCK
        if self.rule != "ours":
            mode = mode_in_force(self.base_mode, self.schedule, local)[0] if self.clock else self.base_mode
            return self.naive.decide(mode, pv, pushed_grid, car_now_w), mode
        core = self.core
        # A new wallbox reading when something changed, else every few seconds like the link.
        if self.pace.report_due(t, car_now_w, plugged):
            amps = car_now_w / self.wpa
            core.charger(ChargerReading(
                at_s=float(t), car_connected=plugged, charging=car_now_w > 0, power_w=car_now_w,
                currents_a=(amps, amps, amps), limit_a=None), self.link_up)
            self.pace.reported(t, car_now_w, plugged)
        if push:  # its grid reading includes what the car draws now
            core.measurement(Measurement(
                pv_w=pv, grid_w=pushed_grid, load_w=None, battery_w=None,
                kind="powerflow" if self.meter else "inverter", inverter_time=None,
                source="simulation", received_at=float(t)))
        clocks = Clocks(float(t), local, float(t))
        setpoint_a = core.tick(clocks)
        self.pace.ticked(core, clocks)
        return setpoint_a, core.decision.mode


class _Tally:
    """The day's sums, second by second (see the module docstring for what is counted)."""

    def __init__(self, cfg: PolicySettings, day: Day, meter: bool):
        wpa = cfg.watts_per_amp
        self.allowance_w = cfg.allowance_w
        self.limit_w = cfg.import_limit_w if meter else 0.0
        self.stale_s = cfg.stale_after_s
        self.min_w = cfg.min_current_a * wpa
        self.cap_w = min(cfg.max_current_a, day.car.max_current_a) * wpa
        self.wh = dict.fromkeys(("car", "pv_car", "unused", "takeable", "taken", "ov_in", "ov_out",
                                 "il_in", "il_out"), 0.0)
        self.s = dict.fromkeys(("ov_in", "ov_out", "il_in", "il_out"), 0)

    def second(self, t: int, pv: float, house: float, car_w: float, needs: bool,
               last_push_s: float, pv_known_w: float, house_known_w: float) -> None:
        wh = self.wh
        surplus = pv - house
        pv_car = min(car_w, surplus) if surplus > 0 else 0.0
        wh["car"] += car_w
        wh["pv_car"] += pv_car
        if surplus > car_w:
            wh["unused"] += surplus - car_w
        if needs and surplus >= self.min_w:
            take = surplus if surplus < self.cap_w else self.cap_w
            wh["takeable"] += take
            wh["taken"] += pv_car if pv_car < take else take
        fresh = t - last_push_s < self.stale_s
        over = car_w - self.allowance_w - pv
        if over > 0:
            known = car_w - self.allowance_w - (pv_known_w if fresh else 0.0)
            self._split("ov", over, known)
        if self.limit_w > 0 and car_w > 0:
            over = min(car_w, house + car_w - pv - self.limit_w)
            if over > 0:
                known_house = house_known_w if fresh else math.inf
                known = min(car_w, known_house + car_w - (pv_known_w if fresh else 0.0) - self.limit_w)
                self._split("il", over, known)

    def _split(self, kind: str, over: float, known: float) -> None:
        """The part the appliance knew of (outside) and the part within a push interval (in)."""
        out = min(over, known) if known > 0 else 0.0
        if out > 0:
            self.wh[kind + "_out"] += out
            self.s[kind + "_out"] += 1
        if over - out > 1e-9:
            self.wh[kind + "_in"] += over - out
            self.s[kind + "_in"] += 1

    def into(self, res: DayResult) -> None:
        wh, s = self.wh, self.s
        res.car_kwh, res.pv_to_car_kwh = wh["car"] / 3.6e6, wh["pv_car"] / 3.6e6
        res.pv_unused_kwh, res.takeable_kwh = wh["unused"] / 3.6e6, wh["takeable"] / 3.6e6
        res.taken_kwh = wh["taken"] / 3.6e6
        res.over_allowance_in_drop_interval_wh = wh["ov_in"] / 3600
        res.over_allowance_in_drop_interval_s = s["ov_in"]
        res.over_allowance_outside_wh = wh["ov_out"] / 3600
        res.over_allowance_outside_s = s["ov_out"]
        res.over_import_limit_in_drop_interval_wh = wh["il_in"] / 3600
        res.over_import_limit_in_drop_interval_s = s["il_in"]
        res.over_import_limit_outside_wh = wh["il_out"] / 3600
        res.over_import_limit_outside_s = s["il_out"]


def _check_args(rule: str, step_s: int, cycle_s: int, base_mode: str) -> None:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if step_s < 1:
        raise ValueError(f"step_s must be at least 1 s, got {step_s}")
    if cycle_s < 1:
        raise ValueError(f"cycle_s must be at least 1 s, got {cycle_s}")
    if base_mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {base_mode!r}")


class _Car:
    """What the wallbox delivers each second: the EMS box gives the setpoint at once; a basic box
    (kind "meter") goes through meter emulation, its grant law and the car's lag (BasicBoxPlant)."""

    def __init__(self, kind: str, settings: Settings, car_max_a: float, wpa: float):
        self.plant = None
        if kind == "meter":
            from .basic_wallbox import BasicBoxPlant

            self.plant = BasicBoxPlant(limit_a=settings.wallbox.dip_limit_a, seed=1, car_max_a=car_max_a)
        self.car_max_a, self.wpa = car_max_a, wpa

    def now_w(self, setpoint_a: int, needs: bool, last_w: float) -> float:
        """What the wallbox's meter shows at a reading (a basic box lags its setpoint)."""
        if not needs:
            return 0.0
        return last_w if self.plant is not None else min(setpoint_a, self.car_max_a) * self.wpa

    def second_w(self, t: int, setpoint_a: int, needs: bool) -> float:
        if self.plant is not None:
            return self.plant.step(float(t), setpoint_a, needs) * self.wpa if needs or self.plant.model.plugged else 0.0
        return min(setpoint_a, self.car_max_a) * self.wpa if needs else 0.0


def simulate_day(day: Day, settings: Settings, *, mode: str | None = None, step_s: int = 10,
                 cycle_s: int = CHARGER_LOOK_S, meter: bool = True, rule: str = "ours",
                 keep_pushes: bool = True, kind: str = "ems") -> DayResult:
    """Runs one day; see the module docstring for what is counted and how. `kind` "meter" puts a
    basic box (meter emulation) in place of the EMS box."""
    base_mode = mode or settings.control.mode
    _check_args(rule, step_s, cycle_s, base_mode)
    started = time_mod.perf_counter()
    cfg = PolicySettings.from_settings(settings)
    schedule = settings.control.schedule
    clock = LocalClock(day.day, settings.control.timezone) if schedule else None
    appliance = _Appliance(cfg, rule, base_mode, schedule, clock, meter, cycle_s)
    tally = _Tally(cfg, day, meter)
    res = DayResult(day.name, base_mode, rule, step_s, meter)
    wpa, car = cfg.watts_per_amp, day.car
    car_max_a, need_wh = car.max_current_a, car.need_wh
    box = _Car(kind, settings, car_max_a, wpa)
    setpoint_a, prev_car_w, mode_now = 0, 0.0, base_mode
    last_push_s, pv_known_w, house_known_w, pushed_grid = -math.inf, 0.0, 0.0, None
    for i in range(day.end_s - day.start_s):
        t = day.start_s + i
        pv, house = day.pv_w[i], day.house_w[i]
        plugged = car.plugged_from_s <= t < car.plugged_until_s
        needs = plugged and need_wh > 1e-9
        push = i % step_s == 0
        car_now_w = box.now_w(setpoint_a, needs, prev_car_w)
        if push or (rule == "ours" and appliance.pace.due(t, car_now_w, plugged)):
            if push:
                pushed_grid = house + car_now_w - pv if meter else None
                last_push_s, pv_known_w, house_known_w = t, pv, house
            before = setpoint_a
            setpoint_a, mode_now = appliance.decide(t, push, pv, pushed_grid, car_now_w, plugged)
            res.setpoint_changes += setpoint_a != before
            if push and keep_pushes:
                res.pushes.append(Push(t, mode_now, pv, house, pushed_grid, car_now_w, plugged, needs,
                                       before, setpoint_a))
        car_w = min(box.second_w(t, setpoint_a, needs), max(0.0, need_wh) * 3600.0)
        need_wh -= car_w / 3600.0
        res.car_w.append(car_w)
        res.setpoint_a.append(setpoint_a)
        if (car_w > 0) != (prev_car_w > 0):
            res.starts += car_w > 0
            res.stops += car_w <= 0
        prev_car_w = car_w
        tally.second(t, pv, house, car_w, needs, last_push_s, pv_known_w, house_known_w)
    tally.into(res)
    res.need_left_kwh = max(0.0, need_wh) / 1000
    res.run_time_s = time_mod.perf_counter() - started
    return res


def register(subparsers):
    """Adds `wallbox simulate` to the command line (appliance/sim/simulate_cli.py)."""
    from .simulate_cli import register as add

    return add(subparsers)
