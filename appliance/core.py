"""ApplianceCore: the appliance's decisions, with no threads, no sockets and no clock of its own.

Events go in (a measurement, a rejected push, a wallbox reading with the link's health, a
command, a tick with the clocks); the setpoint for the wallbox and a status record come out. The
runtime (appliance/runtime.py) feeds it from its threads; `wallbox simulate` steps it with a
simulated clock; tests step it second by second. It owns the policy, the sessions, the schedule,
the pause, and the one rule of when a wallbox reading is usable (`usable_reading`).

The sentences it logs come from appliance.messages; the status record becomes the screen's
snapshot and `wallbox status`'s answer in appliance.core_status.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Iterable, NamedTuple

from . import messages
from .chargers.base import ChargerHealth, ChargerReading
from .commands import Request
from .core_deadline import next_tick_s, phase_surplus_w
from .core_status import CoreStatus, build_status
from .policy.battery import BatteryPriority, BatteryRules, pv_counted_w
from .policy.control import Controller, Decision, Inputs, PolicySettings
from .policy.phases import PhaseCommand, PhaseDecider, PhaseSettings
from .policy.schedule import mode_in_force
from .policy.types import NEXT_MODE, Command
from .sessions import SessionTracker
from .sources.fronius import Measurement
from .state import ApplianceState, StateStore, apply_command

log = logging.getLogger("appliance")

WALLBOX_READING_STALE_S = 20.0   # a wallbox reading older than this is not used (2.5x the idle read interval)
MAX_PHASE_CURRENT_A = 80.0       # no EVSE delivers more per phase
MAX_CAR_POWER_W = 3 * 253.0 * MAX_PHASE_CURRENT_A * 1.1
CAR_HISTORY_S = 120.0            # how far back a grid reading can be paired with the car's power


class Clocks(NamedTuple):
    """One moment on the three clocks the core needs (a NamedTuple: cheap to build every tick)."""

    mono_s: float        # monotonic seconds: ages, ramp, pv timers
    local: datetime      # local wall-clock time: schedule windows, sessions, the screen's clock
    epoch_s: float       # wall-clock epoch seconds: the pause end (survives a restart)


def plausible(reading: ChargerReading) -> bool:
    """Values a real box can report (the driver checks this too; the core trusts no input).
    NaN fails every comparison, so it is never plausible."""
    try:
        a, b, c = reading.currents_a
        ok = (0.0 <= reading.power_w <= MAX_CAR_POWER_W and 0.0 <= a <= MAX_PHASE_CURRENT_A
              and 0.0 <= b <= MAX_PHASE_CURRENT_A and 0.0 <= c <= MAX_PHASE_CURRENT_A)
    except (TypeError, ValueError):
        return False
    limit = reading.limit_a
    return ok and (limit is None or 0 <= limit <= MAX_PHASE_CURRENT_A)


def usable_reading(reading: ChargerReading | None, health: ChargerHealth | None, now_s: float,
                   stale_after_s: float = WALLBOX_READING_STALE_S) -> ChargerReading | None:
    """THE rule, for the policy, the screen and the status alike: a reading counts when the link
    is up, the reading is fresh and its values are plausible. Otherwise None (not known)."""
    if reading is None or health is None or not health.connected:
        return None
    if not -1e-6 <= now_s - reading.at_s < stale_after_s:
        return None
    return reading if plausible(reading) else None


@dataclass
class Readings:
    """The newest inverter data, kept per kind: a PAC-only push carries PV but no grid meter.

    pv_w is the PV the allowance rule counts (appliance.policy.battery: production minus battery
    charging, plus the discharge only where the car may use it); surplus_adjustment_w is what the
    home battery adds to or takes from the PV surplus, worked out once per reading."""

    pv_w: float | None = None
    pv_at_s: float | None = None
    grid_w: float | None = None
    load_w: float | None = None
    grid_at_s: float | None = None
    source: str = ""
    surplus_adjustment_w: float = 0.0
    battery_priority: bool = False      # a battery below its priority level (unknown counts)

    def take(self, m: Measurement, battery: BatteryPriority) -> None:
        rules = battery.rules
        self.pv_w = pv_counted_w(m.pv_w, m.battery_w, m.soc_pct, rules)
        self.pv_at_s, self.source = m.received_at, m.source
        if m.kind != "inverter":   # power flow and SunSpec say whether there is a meter
            self.grid_w, self.load_w, self.grid_at_s = m.grid_w, m.load_w, m.received_at
        else:   # PAC only: the battery's figures stay with the grid reading they belong to
            return
        self.battery_priority = m.battery_w is not None and rules.battery_has_priority(m.soc_pct)
        if m.battery_w is None:
            self.surplus_adjustment_w = 0.0
        elif self.grid_w is not None and self.grid_at_s == m.received_at:
            self.surplus_adjustment_w = battery.surplus_adjustment_w(m.grid_w, m.battery_w, m.soc_pct)
        else:
            # No meter: the estimate (PV - house base load) may also take the charging power once
            # the battery is above its priority level; an allowed discharge is in pv_w already.
            charging_w = max(0.0, -m.battery_w) if math.isfinite(m.battery_w) else 0.0
            self.surplus_adjustment_w = 0.0 if rules.battery_has_priority(m.soc_pct) else charging_w


class CarPowerHistory:
    """Recent (at_s, power_w) of usable wallbox readings, to pair a grid reading with what the car
    drew at the same moment (safety rule 3)."""

    def __init__(self) -> None:
        self._points: deque[tuple[float, float]] = deque()
        self._paired: tuple[float, float] | None = None   # (grid_at_s, car power paired with it)

    def add(self, at_s: float, power_w: float) -> None:
        points = self._points
        if points and at_s <= points[-1][0]:
            return  # the same reading again
        points.append((at_s, power_w))
        while points and points[0][0] < at_s - CAR_HISTORY_S:
            points.popleft()

    def at(self, t_s: float | None) -> float | None:
        """The car's power at t_s: the newest reading taken at or before it (not older than the
        staleness limit), else the first one after it; None when nothing is known."""
        if t_s is None:
            return None
        if self._paired is not None and self._paired[0] == t_s:
            return self._paired[1]
        for at_s, power_w in reversed(self._points):
            if at_s <= t_s:
                if t_s - at_s >= WALLBOX_READING_STALE_S:
                    return None
                self._paired = (t_s, power_w)
                return power_w
        return self._points[0][1] if self._points else None


class ApplianceCore:
    """See the module docstring. Not thread-safe: one thread (or one simulation loop) drives it."""

    def __init__(self, policy: PolicySettings, *, default_mode: str = "fast",
                 store: StateStore | None = None, sessions: SessionTracker | None = None,
                 schedule: Iterable = (), tz: tzinfo | None = None, button_pause_minutes: float = 0.0,
                 battery: BatteryRules | None = None, phases: PhaseSettings | None = None,
                 logger: logging.Logger | None = log):
        self.policy = policy
        self.controller = Controller(policy)
        self._allowance_w = policy.allowance_w
        # 1p/3p switching ([wallbox] phase_switching): decided here, done by the driver. Only while
        # the runtime reports a charger that can switch (phase_switcher); never for a basic box.
        self.phase_decider = PhaseDecider(phases, can_switch=False) if phases is not None else None
        self.phase_command: PhaseCommand | None = None
        self.phases_wanted: int | None = None   # the phase count handed to the driver (set_phases)
        self.phase_surplus_seen_w: float | None = None   # what the decider weighed at the last tick
        self.store = store
        self.state: ApplianceState = store.load() if store is not None else ApplianceState(default_mode)
        self.sessions = sessions
        self.schedule = tuple(schedule)
        self.tz = tz
        self.button_pause_minutes = button_pause_minutes
        self.log = logger if logger is not None else _silent()
        self.no_data_hint = ""
        self.readings = Readings()
        self.battery = BatteryPriority(battery or BatteryRules())
        self.car_history = CarPowerHistory()
        self.accepted_pushes = 0
        self.rejected_pushes = 0
        self.reading: ChargerReading | None = None
        self.health: ChargerHealth | None = None
        self._reading_plausible = False
        self.decision: Decision | None = None
        self.window = None
        self.highest_setpoint_a = 0
        self._started_s: float | None = None
        self._last_tick_s = -math.inf
        self._epoch_s = 0.0
        self._data_state: str | None = None     # "fresh" / "stale" / "none": logged on change only
        self._logged_setpoint: int | None = None

    # --- events in ------------------------------------------------------------------------------

    def measurement(self, m: Measurement) -> None:
        self.readings.take(m, self.battery)
        self.accepted_pushes += 1

    def rejected(self, source: str = "", reason: str = "") -> None:
        # The receiver and poller already log what and where; here it is counted.
        self.rejected_pushes += 1

    def charger(self, reading: ChargerReading | None, health: ChargerHealth) -> None:
        self.reading, self.health = reading, health
        self._reading_plausible = reading is not None and plausible(reading)
        if self._reading_plausible and health.connected:
            self.car_history.add(reading.at_s, float(reading.power_w))

    def allowance(self, allowance_w: float) -> None:
        """The grid allowance in force (the dimmed one while the grid operator dims); it applies
        from the next tick, so a dimming edge lowers the current in the cycle that sees it."""
        self._allowance_w = allowance_w
        self._apply_cfg(self.controller.cfg.phases)

    def phase_switcher(self, can_switch: bool) -> None:
        """Whether the charger is a PhaseSwitcher that can switch now (the runtime asks it every
        cycle); without one no phase decision is made and the settings' phases count."""
        if self.phase_decider is not None:
            self.phase_decider.can_switch = can_switch

    def _apply_cfg(self, phases: int) -> None:
        cfg = self.controller.cfg
        if cfg.allowance_w != self._allowance_w or cfg.phases != phases:
            self.controller.cfg = replace(self.policy, allowance_w=self._allowance_w, phases=phases)

    def paused(self, epoch_s: float) -> bool:
        return self.state.pause_active(epoch_s)

    def command(self, request: Request, clocks: Clocks) -> dict:
        """A validated command (appliance.commands.validate). Change commands take effect at the
        next tick; the runtime ticks at once after one."""
        name = request.command
        if name == Command.STATUS:
            return {"ok": True, **self.status(clocks).as_dict()}
        args: dict = {}
        if name == Command.NEXT_MODE:
            name, args = Command.MODE, {"mode": str(NEXT_MODE[self.state.mode])}
        elif name == Command.TOGGLE_PAUSE:
            if self.paused(clocks.epoch_s):
                name = Command.RESUME
            else:
                name, args = Command.PAUSE, {"minutes": self.button_pause_minutes or None}
        elif name == Command.MODE:
            args = {"mode": str(request.mode)}
        elif name == Command.PAUSE:
            args = {"minutes": request.minutes}
        new, answer = apply_command(self.state, {"command": str(name), **args}, now_epoch_s=clocks.epoch_s)
        self._set_state(new)
        if name == Command.MODE and answer.get("previous_mode") != new.mode:  # a repeat says nothing new
            self.log.info(messages.mode_changed(new.mode, answer.get("previous_mode")))
        elif name == Command.PAUSE:
            self.log.info(messages.paused(new.pause_until_epoch_s, self.tz))
        elif answer.get("was_paused"):
            self.log.info(messages.resumed(new.mode))
        return answer

    # --- the control cycle ----------------------------------------------------------------------

    def tick(self, clocks: Clocks) -> int:
        """Decides the setpoint for this moment and returns it (0 or min..limit A)."""
        now = clocks.mono_s
        self._epoch_s = clocks.epoch_s
        if self._started_s is None:
            self._started_s = now
        dt_s = now - self._last_tick_s if math.isfinite(self._last_tick_s) else 0.0
        self._last_tick_s = now
        if self.store is not None:
            self.store.retry()  # a state the full card refused is written when space returns
        if self.state.paused:
            expired = self.state.expire(clocks.epoch_s)
            if expired != self.state:
                self._set_state(expired)
                self.log.info(messages.pause_over(expired.mode))
        mode, self.window = (mode_in_force(self.state.mode, self.schedule, clocks.local)
                             if self.schedule else (self.state.mode, None))
        usable = usable_reading(self.reading, self.health, now)
        hold = self._phases(now, usable)
        r = self.readings
        decision = self.controller.decide(Inputs(
            now_s=now, mode=mode, paused=self.state.pause_active(clocks.epoch_s),
            pv_w=r.pv_w, pv_at_s=r.pv_at_s, grid_w=r.grid_w, grid_at_s=r.grid_at_s,
            car_w=usable.power_w if usable else 0.0,
            car_connected=usable.car_connected if usable else None,
            charger_limit_a=self._charger_limit_a(),
            car_w_at_grid=self.car_history.at(r.grid_at_s),
            surplus_adjustment_w=r.surplus_adjustment_w, hold_for_phase_switch=hold,
            battery_priority=r.battery_priority,
        ))
        previous = self.decision.setpoint_a if self.decision else 0
        self.decision = decision
        self._log_data_state(now, decision)
        if decision.setpoint_a != self._logged_setpoint:
            self.log.info(messages.setpoint_changed(
                decision, self.controller.cfg, None if self._logged_setpoint is None else previous))
            self._logged_setpoint = decision.setpoint_a
        if decision.setpoint_a > self.highest_setpoint_a:
            self.highest_setpoint_a = decision.setpoint_a
        if self.sessions is not None:
            self._track_session(clocks.local, usable, dt_s)
        return decision.setpoint_a

    def _phases(self, now: float, usable: ChargerReading | None) -> bool:
        """The 1p/3p decision; sets the phases the allowance rule counts. True: hold the current
        at 0 (a switch is under way)."""
        decider = self.phase_decider
        if decider is None:
            return False
        reported = usable.phases_in_use if usable and usable.phases_in_use in (1, 3) else None
        in_use = self.phases_wanted or reported or self.policy.phases
        surplus_w = self.phase_surplus_seen_w = phase_surplus_w(self, usable)
        # A switch waits until the current is offered no more and the car draws none (an idle
        # box reports a few tenths of an amp; a phase that carries current carries 1 A or more).
        drawing = usable is not None and max(usable.currents_a) >= 1.0
        current_a = self.controller.setpoint_a or int(drawing)
        command = decider.decide(now, surplus_w, in_use, current_a)
        self.phase_command = command
        if command.phases != in_use:
            self.phases_wanted = command.phases
            self.log.info(messages.phases_switched(in_use, command.phases, command.switches_in_24h,
                                                   decider.cfg.max_switches_per_day))
        # Watts per amp = phases in use x voltage; while a switch is not confirmed, the larger
        # count (fewer amps) holds. Without a switcher the settings' phases count.
        counted = (max(self.phases_wanted or self.policy.phases, reported or 1)
                   if decider.can_switch else self.policy.phases)
        self._apply_cfg(counted)
        return command.hold_current

    def next_deadline_s(self, clocks: Clocks) -> float:   # see appliance.core_deadline
        return next_tick_s(self, clocks)

    def status(self, clocks: Clocks) -> CoreStatus:
        """The status record at this moment (for the screen, `wallbox status` and the web)."""
        return build_status(self, clocks)

    # --- helpers --------------------------------------------------------------------------------

    def _set_state(self, new: ApplianceState) -> None:
        self.state = new
        if self.store is None:
            return
        try:
            self.store.save(new)
        except OSError as exc:
            self.log.error("Could not save mode and pause to %s (%s): they hold until the next restart "
                           "only. Check state.dir in the settings.", self.store.path, exc.strerror or exc)

    def status_reading(self) -> ChargerReading | None:
        """The wallbox reading as of the last tick, if usable (the one rule)."""
        now = self._last_tick_s
        return usable_reading(self.reading, self.health, now) if math.isfinite(now) else None

    def _charger_limit_a(self) -> int | None:
        # The box's own maximum counts even from an older reading: it only ever lowers the current.
        return self.reading.limit_a if self._reading_plausible else None

    def wallbox_offline(self, now_s: float) -> bool:
        h = self.health
        if h is None or h.connected:
            return False
        return bool(now_s - (self._started_s if self._started_s is not None else now_s) > 5 or h.problem)

    def _track_session(self, local_now: datetime, usable: ChargerReading | None, dt_s: float) -> None:
        car_w = float(usable.power_w) if usable else 0.0
        d = self.decision
        pv_w = d.pv_counted_w if d else 0.0
        r = self.readings
        if d and d.data_fresh and r.grid_w is not None:
            house_w = r.grid_w + pv_w - car_w       # grid + PV = house + car
        else:
            house_w = self.policy.house_base_load_w
        pv_to_car_w = min(car_w, max(0.0, pv_w - house_w))
        meter = usable.meter_wh if usable else None
        try:
            self.sessions.update(
                now=local_now, car_connected=usable.car_connected if usable else None,
                meter_wh=None if meter is None else int(meter),
                current_a=max(usable.currents_a) if usable else 0.0,
                car_w=car_w, pv_to_car_w=pv_to_car_w, dt_s=dt_s)
        except OSError as exc:
            self.log.error("Could not record the charging session in %s (%s).", self.sessions.csv_path,
                           exc.strerror or exc)

    def _log_data_state(self, now: float, decision: Decision) -> None:
        r = self.readings
        state = "fresh" if decision.data_fresh else "none" if r.pv_at_s is None else "stale"
        if state == self._data_state:
            return
        if state == "fresh" and self._data_state == "none":
            self.log.info(messages.first_data(r.source, r.pv_w or 0))
        elif state == "fresh" and self._data_state is not None:
            self.log.info(messages.data_again(r.source, r.pv_w or 0))
        elif state == "stale":
            self.log.warning(messages.data_stale(now - r.pv_at_s, self.policy.stale_after_s,
                                                 decision.setpoint_a))
        elif state == "none":
            self.log.warning(messages.no_data(decision.setpoint_a, self.no_data_hint))
        self._data_state = state


def _silent() -> logging.Logger:
    quiet = logging.getLogger("appliance.core.silent")
    quiet.disabled, quiet.propagate = True, False
    return quiet
