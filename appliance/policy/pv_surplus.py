"""PV-surplus control for pv and minpv mode: a surplus reading and a clock in, a target current out.

Method (measured against an evcc-like controller and today's policy with appliance/sim/compare.py;
every default below was chosen there, on the built-in days, seeds 1-10):

- Every reading counts: the surplus (PV minus the house without the car, from the grid meter) is
  acted on at each push (about 10 s), not every 30 s, so the current follows the sun sooner.
- Tracking in whole amps with a small `tolerance_w` (30 W): a surplus a few watts short of the
  next amp takes it; the car gets the whole amp of PV for a few watts from the grid.
- Calm setpoint: a fall by more than an amp is followed at once; a fall by one amp waits for a
  second reading. A raise waits until `raise_readings` readings allow it and the level has settled
  (the sun coming out raises the current once, not once for every step of the cloud's edge); a
  raise by a single amp right after a dip waits `small_raise_readings` readings; under clouds a
  raise waits `cloudy_raise_readings` readings, so a short gap of sun between two shadows moves
  nothing.
- A forecast from the last 20 minutes (`window_s`): the cost ratio is the grid energy a car held
  at the minimum current would have drawn, per PV energy it would have taken. It measures how
  cloudy it is now, and the near future looks like the recent past.
- Start after `start_after_s` of surplus at the minimum current, and at once when a car is plugged
  in while the surplus is already there (pv and minpv). A start needs a cost ratio of at most
  `start_ratio` (0.15) under strong sun. A restart after a stop needs `restart_sun_s` of surplus
  and `restart_after_s` since the last start: passing clouds do not start the car again and again.
- Stop by energy, not by time. While the car holds the minimum current with less surplus, the
  grid pays the difference; the control adds it up (Wh) and stops when
  - the cost ratio passes `stop_ratio` (0.4): it has been cloudy and costly for a while, or
  - this hold alone has cost `stop_deficit_wh` (300 Wh: a long, deep shadow), or
  - the sun is weak (no reading of the window carried `weak_sun_factor` x the minimum: sunset, a
    winter day, a house load on a weak day) and the hold has lasted `weak_hold_s`.
  A shallow shadow under strong sun costs little and is ridden through, keeping its PV in the car.
- A home battery below its priority level (`SurplusReading.battery_priority`): a hybrid inverter
  keeps the grid at 0 W by charging the battery with what the house leaves, so whatever the car
  draws beyond the surplus comes out of the battery's charge, not from the grid. There the energy
  budget is zero: no tolerance, a fall is followed at once, and a reading below the minimum
  current stops the car (pv; minpv keeps its minimum) instead of holding it.

Pure: no I/O, no clock of its own; `PvSurplus` keeps the frozen `PvState` between calls. The
safety rules stay above it: the core cuts the proposal to the budget (allowance + fresh PV, house
import limit), clamps it to 0 or min..limit, lowers at once and rate-limits raises.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right
from dataclasses import dataclass, replace
from operator import itemgetter


class PvReason(enum.Enum):
    NO_CAR = "no_car"
    NO_DATA = "no_data"            # no surplus reading yet
    WAITING_FOR_SUN = "waiting_for_sun"
    STARTING = "starting"          # surplus there, start timer running
    RESTART_WAIT = "restart_wait"  # surplus there, waiting for restart_after_s
    CHARGING = "charging"
    HOLDING = "holding"            # at the minimum current with too little surplus; deficit counted
    # Stopped in this call: the hold's deficit reached stop_deficit_wh ...
    STOPPED = "stopped"
    STOPPED_CLOUDY = "stopped_cloudy"      # ... charging lately cost more than stop_ratio
    STOPPED_WEAK_SUN = "stopped_weak_sun"  # ... weak sun and held for weak_hold_s
    STOPPED_BATTERY = "stopped_battery"    # ... no hold: the battery below priority would pay it
    MINPV = "minpv"
    CLOUDY = "cloudy"              # surplus there, but charging lately would have cost too much


def cost_ratio(history: tuple[tuple[float, float, float, float], ...]) -> float:
    """Grid energy per PV energy a car at the minimum current would have had over the window."""
    # map/itemgetter: the same sums in the same order, a third of the time of a generator (this
    # runs on every reading over up to 20 minutes of them).
    import_ws = sum(map(itemgetter(1), history))
    pv_ws = sum(map(itemgetter(2), history))
    return import_ws / pv_ws if pv_ws > 0 else (math.inf if import_ws > 0 else 0.0)


@dataclass(frozen=True)
class PvSurplusSettings:
    """How the PV-surplus control starts, follows and stops charging."""

    min_current_a: int = 6
    max_current_a: int = 32
    voltage_v: float = 230.0
    # Whole amps from the surplus, counting this much more: a surplus just short of the next amp
    # then takes it (the grid pays the few watts, the car gets the whole amp of PV).
    tolerance_w: float = 30.0
    start_after_s: float = 30.0
    # A restart (not the first start after plug-in) needs the surplus for this long instead.
    restart_sun_s: float = 180.0
    stop_deficit_wh: float = 300.0
    restart_after_s: float = 900.0
    raise_readings: int = 3
    # A raise by a single amp needs this many readings that all allow it.
    small_raise_readings: int = 24
    lower_readings: int = 2
    # Under clouds (the window's cost ratio above cloudy_ratio) a raise waits for this many
    # readings: a short gap of sun between two shadows then moves nothing.
    cloudy_ratio: float = 0.05
    cloudy_raise_readings: int = 9
    # The cost of charging lately: over the last `window_s`, grid energy a car held at the minimum
    # would have drawn, per PV energy it would have taken. Starting needs at most start_ratio;
    # holding stops once it passes stop_ratio (and the hold has cost at least min_stop_wh).
    window_s: float = 1200.0
    start_ratio: float = 0.15
    stop_ratio: float = 0.4
    min_stop_wh: float = 10.0
    # Weak sun: when no reading of the window carried weak_sun_factor x the minimum, a shortfall
    # is the sun going down or a house load, not a passing cloud: holding ends after weak_hold_s.
    weak_sun_factor: float = 1.3
    weak_hold_s: float = 180.0
    # A reading older than this is no reading (the core's stale_after_s).
    stale_after_s: float = 60.0

    @classmethod
    def from_settings(cls, settings) -> "PvSurplusSettings":
        """The wallbox's current range, the voltage and the staleness limit from the settings
        file (appliance.config.Settings); the method's own figures keep their defaults."""
        return cls(min_current_a=settings.wallbox.min_current_a,
                   max_current_a=settings.wallbox.max_current_a,
                   voltage_v=settings.grid.voltage_v, stale_after_s=settings.fronius.stale_after_s)


@dataclass(frozen=True)
class SurplusReading:
    """What the control knows at one moment. Times are the appliance's monotonic clock (s)."""

    now_s: float
    surplus_w: float | None           # PV - house without the car; None = no reading
    surplus_at_s: float | None        # when that reading arrived
    car_connected: bool
    phases: int = 3                   # phases in use (a phase switch changes watts per amp)
    mode: str = "pv"                  # "pv" or "minpv"
    # A home battery below its priority level: what the car draws beyond the surplus is taken from
    # the battery's charge (appliance.policy.battery), so nothing is held or rounded up on it.
    battery_priority: bool = False


@dataclass(frozen=True)
class PvProposal:
    """What the PV-surplus control proposes at one moment."""

    target_a: int                     # 0 = not charging; else the current the surplus carries
    reason: PvReason
    deficit_wh: float = 0.0           # grid energy paid while holding (stop at stop_deficit_wh)
    wait_s: float = 0.0               # seconds until a start may come (STARTING, RESTART_WAIT)


@dataclass(frozen=True)
class PvState:
    """What the PV-surplus control remembers between two moments."""

    connected: bool = False
    charging: bool = False
    setpoint_a: int = 0
    last_reading_at_s: float | None = None
    enough_since_s: float | None = None
    deficit_wh: float = 0.0
    below_since_s: float | None = None
    last_start_s: float = -math.inf
    started_once: bool = False        # started since plug-in: the next start is a restart
    recent_a: tuple[int, ...] = ()    # the amps of the last raise_readings readings
    # (reading_at_s, would-be import Ws, would-be PV Ws, surplus W) of the last window_s.
    history: tuple[tuple[float, float, float, float], ...] = ()
    fresh_plug: bool = False          # plugged in, no reading seen since


def step(state: PvState, r: SurplusReading, cfg: PvSurplusSettings) -> tuple[PvState, PvProposal]:
    """One decision; see the module docstring for the method."""
    if not r.car_connected:
        return PvState(), PvProposal(0, PvReason.NO_CAR)
    if not state.connected:
        state = replace(state, connected=True, fresh_plug=True)
    fresh = (r.surplus_w is not None and math.isfinite(r.surplus_w) and r.surplus_at_s is not None
             and 0.0 <= r.now_s - r.surplus_at_s < cfg.stale_after_s)
    if not fresh:
        state = replace(state, charging=False, setpoint_a=0, enough_since_s=None, deficit_wh=0.0,
                        recent_a=())
        floor_a = cfg.min_current_a if r.mode == "minpv" else 0
        return state, PvProposal(floor_a, PvReason.MINPV if floor_a else PvReason.NO_DATA)
    watts_per_amp = r.phases * cfg.voltage_v
    min_w = cfg.min_current_a * watts_per_amp
    tolerance_w = 0.0 if r.battery_priority else cfg.tolerance_w
    amps = min(cfg.max_current_a,
               math.floor(max(0.0, r.surplus_w + tolerance_w) / watts_per_amp + 1e-9))
    if r.surplus_at_s == state.last_reading_at_s:
        return state, _same_reading(state, r, cfg)
    dt_s = min(cfg.stale_after_s, r.surplus_at_s - state.last_reading_at_s) \
        if state.last_reading_at_s is not None else 0.0
    recent = (state.recent_a + (amps,))[-max(cfg.raise_readings, cfg.lower_readings,
                                                       cfg.small_raise_readings,
                                                       cfg.cloudy_raise_readings):]
    history = _remember(state.history, r, dt_s, min_w, cfg.max_current_a * watts_per_amp, cfg)
    state = replace(state, last_reading_at_s=r.surplus_at_s, recent_a=recent, history=history)
    if r.mode == "minpv":
        target_a = max(cfg.min_current_a, _track(state, amps, cfg, r.battery_priority))
        return replace(state, charging=True, setpoint_a=target_a, fresh_plug=False), \
            PvProposal(target_a, PvReason.MINPV)
    if not state.charging:
        return _not_charging(state, r, amps, cfg)
    if amps >= cfg.min_current_a:
        target_a = max(cfg.min_current_a, _track(state, amps, cfg, r.battery_priority))
        return replace(state, setpoint_a=target_a, deficit_wh=0.0, below_since_s=None), \
            PvProposal(target_a, PvReason.CHARGING)
    deficit_wh = state.deficit_wh + (min_w - max(0.0, r.surplus_w)) * dt_s / 3600.0
    below_since_s = state.below_since_s if state.below_since_s is not None else r.now_s
    costly = deficit_wh >= cfg.min_stop_wh and cost_ratio(history) > cfg.stop_ratio
    weak = _weak_sun(history, r, cfg)
    held_s = r.now_s - below_since_s
    stop = (PvReason.STOPPED_BATTERY if r.battery_priority
            else PvReason.STOPPED if deficit_wh >= cfg.stop_deficit_wh
            else PvReason.STOPPED_CLOUDY if costly
            else PvReason.STOPPED_WEAK_SUN if weak and held_s >= cfg.weak_hold_s else None)
    if stop is not None:
        return replace(state, charging=False, setpoint_a=0, deficit_wh=0.0, enough_since_s=None,
                       below_since_s=None), PvProposal(0, stop, deficit_wh)
    return replace(state, setpoint_a=cfg.min_current_a, deficit_wh=deficit_wh,
                   below_since_s=below_since_s), \
        PvProposal(cfg.min_current_a, PvReason.HOLDING, deficit_wh)


def _weak_sun(history, r: SurplusReading, cfg: PvSurplusSettings) -> bool:
    """No reading of the window carried weak_sun_factor x the minimum current."""
    min_w = cfg.min_current_a * r.phases * cfg.voltage_v
    return max((h[3] for h in history), default=0.0) < cfg.weak_sun_factor * min_w


def _remember(history, r: SurplusReading, dt_s: float, min_w: float, max_w: float,
              cfg: PvSurplusSettings) -> tuple[tuple[float, float, float, float], ...]:
    surplus_w = max(0.0, r.surplus_w)
    entry = (r.surplus_at_s, max(0.0, min_w - surplus_w) * dt_s, min(surplus_w, max_w) * dt_s,
             surplus_w)
    # Readings come in time order (the core keeps no push older than the one it holds), so the
    # window's old end is found by bisection instead of testing each of up to 20 minutes of them.
    first = bisect_right(history, r.surplus_at_s - cfg.window_s, key=itemgetter(0))
    return history[first:] + (entry,)


def _track(state: PvState, amps: int, cfg: PvSurplusSettings, fall_at_once: bool = False) -> int:
    """Up or down only as far as every one of the last few readings agrees (a fall by more than
    an amp, or any fall with fall_at_once: at once)."""
    now_a = state.setpoint_a
    if not now_a or (fall_at_once and amps < now_a):
        return amps
    cloudy = cost_ratio(state.history) > cfg.cloudy_ratio
    up_a = min(state.recent_a[-(cfg.cloudy_raise_readings if cloudy else cfg.raise_readings):])
    # Up only once the level has settled (the last reading within an amp of it): the sun coming
    # out from behind a cloud then raises the current once, not once for every step of its edge.
    if up_a > now_a + 1 and amps <= up_a + 1:
        return up_a
    # A single amp up: at once in steady sun, but after a dip below the current (clouds) only
    # when no reading of the last small_raise_readings went below it.
    if up_a == now_a + 1 and min(state.recent_a[-cfg.small_raise_readings:]) >= now_a:
        return up_a
    if amps < now_a - 1:
        return amps
    down_a = max(state.recent_a[-cfg.lower_readings:])
    return down_a if down_a < now_a else now_a


def _not_charging(state: PvState, r: SurplusReading, amps: int,
                  cfg: PvSurplusSettings) -> tuple[PvState, PvProposal]:
    plug, state = state.fresh_plug, replace(state, fresh_plug=False)
    if amps < cfg.min_current_a:
        return replace(state, enough_since_s=None), PvProposal(0, PvReason.WAITING_FOR_SUN)
    since_s = state.enough_since_s if state.enough_since_s is not None else r.now_s
    state = replace(state, enough_since_s=since_s)
    if plug:  # plugged into a surplus that is already there: start at once
        return _start(state, r, amps)
    if not _weak_sun(state.history, r, cfg) and cost_ratio(state.history) > cfg.start_ratio:
        return state, PvProposal(0, PvReason.CLOUDY)
    sun_s = cfg.restart_sun_s if state.started_once else cfg.start_after_s
    wait_s = max(since_s + sun_s, state.last_start_s + cfg.restart_after_s) - r.now_s
    if wait_s > 0:
        reason = PvReason.STARTING if r.now_s - since_s < sun_s else PvReason.RESTART_WAIT
        return state, PvProposal(0, reason, wait_s=wait_s)
    return _start(state, r, amps)


def _start(state: PvState, r: SurplusReading, amps: int) -> tuple[PvState, PvProposal]:
    return replace(state, charging=True, setpoint_a=amps, last_start_s=r.now_s, deficit_wh=0.0,
                   enough_since_s=None, started_once=True), PvProposal(amps, PvReason.CHARGING)


def _same_reading(state: PvState, r: SurplusReading, cfg: PvSurplusSettings) -> PvProposal:
    """Between readings nothing new is known: the last proposal stands."""
    if r.mode == "minpv":
        return PvProposal(max(cfg.min_current_a, state.setpoint_a), PvReason.MINPV)
    if state.charging:
        reason = PvReason.HOLDING if state.deficit_wh > 0 else PvReason.CHARGING
        return PvProposal(state.setpoint_a, reason, state.deficit_wh)
    return PvProposal(0, PvReason.WAITING_FOR_SUN)


class PvSurplus:
    """Keeps the PvState between calls: `propose(reading)` -> PvProposal."""

    def __init__(self, cfg: PvSurplusSettings | None = None) -> None:
        self.cfg = cfg or PvSurplusSettings()
        self.state = PvState()

    def propose(self, reading: SurplusReading) -> PvProposal:
        self.state, proposal = step(self.state, reading, self.cfg)
        return proposal
