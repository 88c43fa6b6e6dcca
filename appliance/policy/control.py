"""The charging policy: measurements and a clock in, a setpoint out. No I/O, no threads.

Everything here is pure apart from the small state a `Controller` keeps between calls (the last
setpoint, when it was last raised, the pv-mode start/stop timers). The same inputs and clock give
the same setpoint, so a whole day runs in a test in milliseconds.

Safety rules (DESIGN.md) that live here:
1. The setpoint is 0 or between the minimum current and the charger limit; never 1-5 A.
2. setpoint x phases x voltage <= allowance + PV, PV only from a fresh measurement.
3. With a grid meter and an import limit, the house's import stays under the limit.
4. Lowering happens in the same call that sees the need; raising at most once per interval.

Three habits keep the current calm and the grid allowance safe between pushes (measured with
`wallbox simulate`, see appliance/sim/simulate.py):
- A raise goes only as high as the measurements have allowed for the whole last
  `ramp_up_interval_s` (the lowest level seen in that time), so a gap of sun between two clouds
  does not send the current up just before the next shadow.
- PV can fall between two pushes (a cloud's shadow) and the appliance learns it only at the next
  push; until then the wallbox may draw more than allowance + PV. After PV has fallen from one
  reading to the next, the budget keeps a reserve: the largest such fall of the last
  `pv_drop_memory_s`, but no more than down to the lowest PV of that time. On a day of passing
  clouds the budget counts about the PV the shadows leave, in sun and in shadow alike, instead of
  following every gap of sun, and the next shadow finds the current already there. A fall counts
  from the reading after the one that showed it (that reading already has the lower PV). The
  reserve never takes away the allowance: it is at most the PV itself.
- The PV surplus and the house import limit both take the grid reading together with the car's
  power from the same moment (the core pairs them from its history of wallbox readings). The
  wallbox reports the car's power every cycle but the grid reading only changes with a push:
  mixing a new car power with an old grid reading would count each change of the car's current
  twice (with an import limit the current then cycled 15 -> 10 -> 0 -> 10 -> 15 A).

pv and minpv hand the surplus (from the grid meter paired with the car's power, or PV minus the
house base load without one) to the PV-surplus control (appliance.policy.pv_surplus: whole amps,
a calm setpoint, a start at plug-in into a surplus, a stop by energy, not by time); its proposal
passes the same gate as every mode: the budget, the clamp, lowering at once and at most one raise
per `ramp_up_interval_s` (without fast mode's lowest-level window and single-amp wait, which the
control's own calm replaces). During a phase switch (`hold_for_phase_switch`) the target is 0.

The decision carries codes and numbers (appliance.policy.types); appliance.messages makes the
sentences for the log, the screen and the control socket.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from .pv_surplus import PvReason, PvSurplus, PvSurplusSettings, SurplusReading
from .ramp import AllowedLevels
from .schedule import mode_in_force, next_window_start  # noqa: F401  (re-exported)
from .types import MODES, NEXT_MODE, Mode, Reason, Waiting  # noqa: F401  (MODES, NEXT_MODE: re-exported)


@dataclass(frozen=True)
class PolicySettings:
    allowance_w: float = 11000.0
    phases: int = 3
    voltage_v: float = 230.0
    import_limit_w: float = 0.0
    min_current_a: int = 6
    max_current_a: int = 32
    stale_after_s: float = 60.0
    ramp_up_interval_s: float = 30.0
    # No longer used by pv mode (the PV-surplus control has its own start and energy-based stop;
    # appliance.policy.pv_surplus); kept so the [control] keys still load.
    enable_delay_s: float = 60.0
    disable_delay_s: float = 300.0
    min_restart_interval_s: float = 600.0
    house_base_load_w: float = 300.0
    pv_drop_memory_s: float = 900.0
    # fast mode: a raise by a single amp waits this long after the last change: a slowly rising PV
    # curve then moves the current in steps of 2 A or more, not a write for every amp it crosses.
    small_raise_after_s: float = 3600.0
    # pv and minpv: the PV-surplus control's own figures; None = its defaults with this policy's
    # current range, voltage and staleness limit (a faster-running demo passes scaled ones).
    pv_surplus: PvSurplusSettings | None = None

    @property
    def watts_per_amp(self) -> float:
        return self.phases * self.voltage_v

    @classmethod
    def from_settings(cls, settings) -> "PolicySettings":
        g, w, f, c = settings.grid, settings.wallbox, settings.fronius, settings.control
        return cls(
            allowance_w=g.allowance_w, phases=g.phases, voltage_v=g.voltage_v,
            import_limit_w=g.import_limit_w, min_current_a=w.min_current_a,
            max_current_a=w.max_current_a, stale_after_s=f.stale_after_s,
            ramp_up_interval_s=c.ramp_up_interval_s, enable_delay_s=c.enable_delay_s,
            disable_delay_s=c.disable_delay_s, min_restart_interval_s=c.min_restart_interval_s,
            house_base_load_w=c.house_base_load_w,
        )


@dataclass(frozen=True)
class Inputs:
    """What the policy knows at one moment. Times are the appliance's monotonic clock in seconds."""

    now_s: float
    mode: str = Mode.FAST              # the mode in force (after schedule and pause)
    paused: bool = False
    pv_w: float | None = None          # latest PV reading; None = never had one
    pv_at_s: float | None = None       # when that reading arrived
    grid_w: float | None = None        # latest grid meter reading (+ import); None = no meter
    grid_at_s: float | None = None
    car_w: float = 0.0                 # what the wallbox draws now (its own meter)
    car_connected: bool | None = None  # None = not known (wallbox not answering)
    charger_limit_a: int | None = None  # smallest of the session/EVSE/cable maximum the box reports
    # What the car drew when the grid reading was taken (the core pairs them from its history of
    # wallbox readings). None: the policy pairs them itself, with the car's power at the first
    # decision that saw this grid reading.
    car_w_at_grid: float | None = None
    # A phase switch is under way (appliance.policy.phases): the current must be 0 now.
    hold_for_phase_switch: bool = False
    # Watts the home battery adds to (+) or takes from (-) the PV surplus (appliance.policy.battery):
    # charging power the car may take, discharge it must not count.
    surplus_adjustment_w: float = 0.0
    battery_priority: bool = False     # a home battery below its priority level: see pv_surplus


class Decision(NamedTuple):
    """Codes and numbers; appliance.messages makes the sentences. (Immutable; a NamedTuple because
    one is made every second of a simulated day.)"""

    setpoint_a: int
    target_a: int              # what the mode asks for before the raise limit
    budget_w: float            # what the safety rules let the wallbox draw now
    pv_counted_w: float        # PV that counts (0 unless fresh)
    data_fresh: bool
    mode: str
    surplus_w: float | None    # pv/minpv: PV surplus available to the car
    surplus_estimated: bool    # surplus from PV - house_base_load_w (no grid meter)
    reason: Reason
    waiting_for: Waiting | None
    pv_reserve_w: float = 0.0  # PV not counted after recent falls (passing clouds)
    house_w: float | None = None   # the house's own use, when the import limit cut the budget
    timer_s: float | None = None   # pv mode: seconds above/below so far, or until the next start
    raise_in_s: float | None = None  # a raise to target_a is allowed in this many seconds
    deficit_wh: float | None = None  # pv mode, holding: grid energy the hold has cost so far


class _Budget(NamedTuple):
    budget_w: float
    safe_a: int
    pv_w: float
    reserve_w: float
    fresh: bool
    meter: bool
    house_w: float | None       # set when the import limit cut the budget


class _Target(NamedTuple):
    target_a: int
    reason: Reason
    waiting: Waiting | None = None
    surplus_w: float | None = None
    estimated: bool = False
    timer_s: float | None = None
    deficit_wh: float | None = None


def clamp_current(amps: float, min_a: int, limit_a: int) -> int:
    """Rule 1: whole amps, 0 or min..limit; anything below the minimum is 0, never 1-5 A."""
    if not math.isfinite(amps):
        return 0
    a = min(math.floor(amps + 1e-9), limit_a)
    return a if a >= min_a else 0


def is_fresh(at_s: float | None, now_s: float, stale_after_s: float) -> bool:
    return at_s is not None and 0.0 <= now_s - at_s < stale_after_s


def _finite_or(value: float | None, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


# What each PV-surplus answer means for the status: (reason, what the setpoint waits for).
_PV_REASONS: dict[PvReason, tuple[Reason, Waiting | None]] = {
    PvReason.NO_CAR: (Reason.NO_CAR, Waiting.CAR),
    PvReason.NO_DATA: (Reason.PV_NO_DATA, Waiting.SUN),
    PvReason.WAITING_FOR_SUN: (Reason.PV_WAITING, Waiting.SUN),
    PvReason.STARTING: (Reason.PV_STARTING, Waiting.SUN),
    PvReason.RESTART_WAIT: (Reason.PV_RESTART_WAIT, Waiting.SUN),
    PvReason.CHARGING: (Reason.PV_RUNNING, None),
    PvReason.HOLDING: (Reason.PV_HOLDING, None),
    PvReason.STOPPED: (Reason.PV_STOPPING, Waiting.SUN),
    PvReason.STOPPED_CLOUDY: (Reason.PV_STOPPED_CLOUDY, Waiting.SUN),
    PvReason.STOPPED_WEAK_SUN: (Reason.PV_STOPPED_WEAK_SUN, Waiting.SUN),
    PvReason.STOPPED_BATTERY: (Reason.PV_STOPPED_BATTERY, Waiting.SUN),
    PvReason.MINPV: (Reason.MINPV, None),
    PvReason.CLOUDY: (Reason.PV_CLOUDY, Waiting.SUN),
}
_PV_TIMERS = (PvReason.STARTING, PvReason.RESTART_WAIT)


def pv_surplus_settings(cfg: PolicySettings) -> PvSurplusSettings:
    """The PV-surplus control's settings: the wallbox's range, the voltage and the staleness limit
    from the policy; the method's own figures keep their defaults (appliance.policy.pv_surplus)."""
    if cfg.pv_surplus is not None:
        return cfg.pv_surplus
    return PvSurplusSettings(min_current_a=cfg.min_current_a, max_current_a=cfg.max_current_a,
                             voltage_v=cfg.voltage_v, stale_after_s=cfg.stale_after_s)


@dataclass
class Controller:
    """Holds the setpoint, the raise timer and the PV-surplus control between calls of `decide`."""

    cfg: PolicySettings
    setpoint_a: int = 0
    last_raise_s: float = -math.inf
    last_change_s: float = -math.inf
    # pv and minpv: the PV-surplus control (appliance.policy.pv_surplus); a fresh one after
    # pause, off or fast, so a return to pv starts from a clean slate.
    pv: PvSurplus | None = field(default=None, repr=False)
    _pv_last: tuple = field(default=(None, None), repr=False)   # (reading at_s, proposal)
    # Fresh PV readings (pv_at_s, pv_w) and the falls between them (pv_at_s, fall_w), recent ones.
    _pv_readings: deque = field(default_factory=deque, repr=False)
    _pv_falls: deque = field(default_factory=deque, repr=False)
    # grid_at_s of the latest grid reading and the car's power when it was taken.
    _grid_seen_at_s: float | None = field(default=None, repr=False)
    _car_w_at_grid: float = field(default=0.0, repr=False)
    # fast mode: the levels the measurements allowed over the last ramp_up_interval_s.
    _allowed: AllowedLevels = field(default_factory=AllowedLevels, repr=False)
    # The PV reserve's parts: the falls before the reading's at_s as a sliding maximum (each fall
    # larger than every later one), the fall at at_s as (at_s, fall_w) or None; and the readings as
    # a sliding minimum (each entry lower than every later reading, the first is the lowest).
    _pending_fall: tuple[float, float] | None = field(default=None, repr=False)
    _pv_lows: deque = field(default_factory=deque, repr=False)

    @property
    def starts(self) -> int:
        return 0 if self.pv is None else int(self.pv.state.started_once)

    def decide(self, inp: Inputs) -> Decision:
        cfg = self.cfg
        limit_a = cfg.max_current_a
        if inp.charger_limit_a is not None and inp.charger_limit_a > 0:
            limit_a = min(limit_a, inp.charger_limit_a)
        b = self._budget(inp, limit_a)
        if inp.paused or inp.mode not in (Mode.PV, Mode.MINPV):
            self.pv = None
        if inp.paused:
            t = _Target(0, Reason.PAUSED, Waiting.PAUSED)
        elif inp.mode == Mode.OFF:
            t = _Target(0, Reason.MODE_OFF, Waiting.OFF)
        elif inp.mode == Mode.FAST:
            t = _Target(b.safe_a, Reason.FAST_PV if b.fresh else Reason.FAST_ALLOWANCE_ONLY)
        else:
            t = self._surplus_target(inp, b)
        if inp.hold_for_phase_switch:
            t = t._replace(target_a=0, reason=Reason.PHASE_SWITCH, waiting=None, timer_s=None)
        target_a = clamp_current(min(t.target_a, b.safe_a), cfg.min_current_a, limit_a) if t.target_a else 0
        raise_in_s, waiting = self._ramp(inp, b, t, target_a, limit_a)
        return Decision(
            setpoint_a=self.setpoint_a, target_a=target_a, budget_w=b.budget_w, pv_counted_w=b.pv_w,
            data_fresh=b.fresh, mode=inp.mode, surplus_w=t.surplus_w, surplus_estimated=t.estimated,
            reason=t.reason, waiting_for=waiting, pv_reserve_w=b.reserve_w, house_w=b.house_w,
            timer_s=t.timer_s, raise_in_s=raise_in_s, deficit_wh=t.deficit_wh,
        )

    def _budget(self, inp: Inputs, limit_a: int) -> _Budget:
        """Rule 2 (allowance + fresh PV) and rule 3 (house import limit) make the budget."""
        cfg = self.cfg
        fresh = is_fresh(inp.pv_at_s, inp.now_s, cfg.stale_after_s) and inp.pv_w is not None
        pv_w = max(0.0, float(inp.pv_w)) if fresh and math.isfinite(inp.pv_w) else 0.0
        meter = (inp.grid_w is not None and math.isfinite(inp.grid_w)
                 and is_fresh(inp.grid_at_s, inp.now_s, cfg.stale_after_s))
        car_w = inp.car_w if math.isfinite(inp.car_w) and inp.car_w > 0 else 0.0
        reserve_w = self._pv_reserve(inp, pv_w) if fresh else 0.0
        if meter and inp.grid_at_s != self._grid_seen_at_s:
            self._grid_seen_at_s = inp.grid_at_s
            self._car_w_at_grid = car_w
        if meter and inp.car_w_at_grid is not None:
            self._car_w_at_grid = max(0.0, _finite_or(inp.car_w_at_grid, 0.0))
        budget_w = cfg.allowance_w + pv_w - reserve_w
        house_w = None
        if cfg.import_limit_w > 0:
            if meter:
                # The grid reading and the car's power from the same moment (rule 3): the grid
                # reading includes what the car drew then, not what it draws now.
                house_without_car_w = inp.grid_w - self._car_w_at_grid
                by_import = cfg.import_limit_w - house_without_car_w
                if by_import < budget_w:
                    budget_w = max(0.0, by_import)
                    house_w = house_without_car_w + pv_w
            else:
                # No fresh meter: the house's import is unknown, so count no PV at all.
                budget_w = min(budget_w, cfg.allowance_w)
        safe_a = clamp_current(budget_w / cfg.watts_per_amp, cfg.min_current_a, limit_a)
        return _Budget(budget_w, safe_a, pv_w, reserve_w, fresh, meter, house_w)

    def _surplus_target(self, inp: Inputs, b: _Budget) -> _Target:
        """pv and minpv: the surplus from the grid meter (or estimated from PV without one), handed
        to the PV-surplus control; its proposal is cut to the budget by the caller."""
        cfg = self.cfg
        adjustment_w = _finite_or(inp.surplus_adjustment_w, 0.0)
        surplus_w: float | None = None
        at_s = None
        if b.meter:
            surplus_w, at_s = self._car_w_at_grid - inp.grid_w + adjustment_w, inp.grid_at_s
        elif b.fresh:
            surplus_w, at_s = b.pv_w - cfg.house_base_load_w + adjustment_w, inp.pv_at_s
        if self.pv is None:
            self.pv = PvSurplus(pv_surplus_settings(cfg))
            self._pv_last = (None, None)
        p = self.pv.propose(SurplusReading(
            now_s=inp.now_s, surplus_w=surplus_w, surplus_at_s=at_s,
            car_connected=inp.car_connected is True, phases=cfg.phases, mode=str(inp.mode),
            battery_priority=inp.battery_priority))
        last_at_s, last = self._pv_last
        if at_s is not None and at_s == last_at_s and p.reason is PvReason.WAITING_FOR_SUN \
                and last is not None and last.target_a == 0:
            p = last   # between readings nothing new is known: keep saying what the last one meant
        self._pv_last = (at_s, p)
        reason, waiting = _PV_REASONS[p.reason]
        timer_s = p.wait_s if p.reason in _PV_TIMERS else None
        return _Target(p.target_a, reason, waiting, 0.0 if surplus_w is None else surplus_w,
                       b.meter is False and b.fresh, timer_s, p.deficit_wh or None)

    def _ramp(self, inp: Inputs, b: _Budget, t: _Target, target_a: int, limit_a: int):
        """Rule 4: lower at once, raise at most once per interval. Returns (raise_in_s, waiting).

        pv and minpv: the PV-surplus control already keeps the current calm, so a raise goes to its
        target once the interval since the last raise is over. fast: a raise goes no higher than
        the lowest level the measurements allowed over the last interval, and a single amp waits
        small_raise_after_s after the last change."""
        cfg = self.cfg
        now = inp.now_s
        calm = inp.mode in (Mode.PV, Mode.MINPV) and not inp.paused
        if calm:
            self._allowed.forget()   # fast mode's window starts afresh at its next tick
        raise_to_a = target_a if calm else self._lowest_allowed(now, b.safe_a, target_a, limit_a)
        waiting = t.waiting
        if target_a < self.setpoint_a:
            self.setpoint_a = target_a
            self.last_change_s = now
            return None, waiting
        if target_a == self.setpoint_a:
            return None, waiting
        small = raise_to_a - self.setpoint_a < 2 and self.setpoint_a > 0 and not calm
        if raise_to_a > self.setpoint_a and now - self.last_raise_s >= cfg.ramp_up_interval_s \
                and not (small and now - self.last_change_s < cfg.small_raise_after_s):
            self.setpoint_a = raise_to_a
            self.last_raise_s = self.last_change_s = now
        if target_a <= self.setpoint_a:
            return None, waiting
        # The earliest a raise to target_a can come: the interval since the last raise is over and
        # (fast) target_a has been allowed for a whole interval (a single amp also waits
        # small_raise_after_s after the last change).
        low_since_s = -math.inf if calm else self._allowed.allowed_since_s(now, target_a)
        ready_s = max(self.last_raise_s, low_since_s) + cfg.ramp_up_interval_s
        if target_a - self.setpoint_a < 2 and self.setpoint_a > 0 and not calm:
            ready_s = max(ready_s, self.last_change_s + cfg.small_raise_after_s)
        return max(0.0, ready_s - now), waiting or (Waiting.RAMP if self.setpoint_a == 0 else None)

    def _lowest_allowed(self, now: float, allowed_a: int, target_a: int, limit_a: int) -> int:
        """The highest a raise may go: the lowest level allowed over the last ramp interval."""
        lowest_a = self._allowed.lowest(now, allowed_a, self.cfg.ramp_up_interval_s)
        return clamp_current(min(target_a, lowest_a), self.cfg.min_current_a, limit_a)

    def _pv_reserve(self, inp: Inputs, pv_w: float) -> float:
        """PV kept in reserve after recent falls (see the module docstring); 0 <= reserve <= pv_w."""
        now, at_s = inp.now_s, inp.pv_at_s
        readings, falls = self._pv_readings, self._pv_falls
        if not readings or readings[-1][0] != at_s:
            pending = self._pending_fall  # the last reading's fall counts from now: a sliding maximum
            while pending is not None and falls and falls[-1][1] <= pending[1]:
                falls.pop()
            if pending is not None:
                falls.append(pending)
            fell = readings and readings[-1][1] > pv_w and is_fresh(readings[-1][0], now, self.cfg.stale_after_s)
            self._pending_fall = (at_s, readings[-1][1] - pv_w) if fell else None
            reading = (at_s, pv_w)
            readings.append(reading)
            lows = self._pv_lows
            while lows and lows[-1][1] >= pv_w:
                lows.pop()
            lows.append(reading)
        oldest_s = now - self.cfg.pv_drop_memory_s
        while readings and (readings[0][0] <= oldest_s or readings[0][0] > now):
            gone = readings.popleft()
            if self._pv_lows and self._pv_lows[0] is gone:
                self._pv_lows.popleft()
        while falls and (falls[0][0] <= oldest_s or falls[0][0] > now):
            falls.popleft()
        largest_fall_w = falls[0][1] if falls else 0.0  # falls before this reading's, largest first
        lowest_w = self._pv_lows[0][1] if self._pv_lows else pv_w
        if largest_fall_w <= 0.0:
            return 0.0
        return max(0.0, min(pv_w, largest_fall_w, pv_w - lowest_w))
