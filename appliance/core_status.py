"""The core's status record, and the two views made from it: the screen's snapshot and the status
answer of the control socket (`wallbox status`). One record, so the screen, the socket and the log
never disagree about what the appliance is doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from . import messages
from .chargers.base import ChargerHealth, ChargerReading
from .policy.control import Decision
from .policy.schedule import next_window_start
from .policy.types import Mode, Waiting

if TYPE_CHECKING:  # the core imports this module
    from .core import ApplianceCore, Clocks


@dataclass(frozen=True)
class CoreStatus:
    local_now: datetime
    mode: str                        # the mode chosen by the user (state)
    mode_in_force: str               # after the schedule
    decision: Decision | None        # None before the first tick
    reason: str                      # the decision in words ("starting" before the first tick)
    paused: bool
    pause_until_epoch_s: float | None
    pause_remaining_s: float | None
    waiting_for: str | None          # the screen's reason for 0 A: sun, schedule, paused, off
    schedule_start: str | None       # "HH:MM" of the next window (waiting_for == "schedule")
    reading: ChargerReading | None   # the usable wallbox reading, None when not usable
    health: ChargerHealth
    starting: bool                   # no answer from the wallbox yet, but not long enough to worry
    wallbox_offline: bool
    pv_w: float | None
    pv_age_s: float | None
    grid_w: float | None
    pushes_accepted: int
    pushes_rejected: int
    session_energy_wh: float | None
    allowance_w: float
    start_needs_w: float
    stale_after_s: float
    phases: int = 3                        # the phases the allowance rule counts now
    phase_switches_24h: int | None = None  # with 1p/3p switching on: switches in the last 24 h
    storage_problem: str | None = None     # the card cannot be written: what is not saved

    @property
    def setpoint_a(self) -> int:
        return self.decision.setpoint_a if self.decision else 0

    def as_dict(self) -> dict:
        """What `wallbox status` prints (the control socket's answer to "status")."""
        d, s = self.decision, self.reading
        return {
            "mode": str(self.mode),
            "mode_in_force": str(self.mode_in_force),
            "paused": self.paused,
            "pause_until_epoch_s": self.pause_until_epoch_s if self.paused else None,
            "setpoint_a": d.setpoint_a if d else None,
            "reason": self.reason,
            "budget_w": d.budget_w if d else None,
            "pv_w": self.pv_w,
            "pv_age_s": None if self.pv_age_s is None else round(self.pv_age_s, 1),
            "grid_w": self.grid_w,
            "wallbox_connected": self.health.connected,
            "wallbox_error": self.health.problem,
            "car_connected": s.car_connected if s else None,
            "car_w": s.power_w if s else None,
            "meter_wh": s.meter_wh if s else None,
            "pushes_accepted": self.pushes_accepted,
            "pushes_rejected": self.pushes_rejected,
            "session_energy_wh": None if self.session_energy_wh is None else round(self.session_energy_wh),
            "phases": self.phases,
            "phase_switches_24h": self.phase_switches_24h,
            "storage_problem": self.storage_problem,
        }

    def snapshot(self, *, version: str, ip_address: str | None, backlight_on: bool = True,
                 settings_error: str | None = None):
        """The screen's plain record (display/ never imports appliance/)."""
        from display.snapshot import Snapshot

        d, s = self.decision, self.reading
        return Snapshot(
            now=self.local_now.replace(tzinfo=None), version=version, ip_address=ip_address,
            starting=self.starting, mode=str(d.mode if d else self.mode),
            surplus_estimated=bool(d and d.surplus_estimated),
            car_connected=s.car_connected if s else None,
            # Told 0 A, the car stops within seconds: the screen says so at once, not at the next read.
            charging=bool(s and s.charging and d and d.setpoint_a > 0),
            setpoint_a=d.setpoint_a if d else 0,
            current_a=max(s.currents_a) if s else 0.0,
            car_power_w=float(s.power_w) if s else 0.0,
            pv_w=self.pv_w, pv_age_s=self.pv_age_s, grid_w=self.grid_w,
            allowance_w=self.allowance_w, budget_w=d.budget_w if d else self.allowance_w,
            waiting_for=self.waiting_for, schedule_start=self.schedule_start,
            pause_remaining_s=self.pause_remaining_s,
            inverter_stale=bool(d and not d.data_fresh), wallbox_offline=self.wallbox_offline,
            settings_error=settings_error, start_needs_w=self.start_needs_w,
            storage_problem=self.storage_problem,
            surplus_w=d.surplus_w if d else None, stale_after_s=self.stale_after_s,
            backlight_on=backlight_on,
        )


def _waiting(core: "ApplianceCore", clocks: "Clocks", paused: bool) -> tuple[str | None, str | None]:
    """Why the screen shows 0 A: (waiting_for, schedule_start)."""
    d = core.decision
    if d is not None and d.setpoint_a > 0:
        # Offered a current, connected, drawing nothing: the car is full or waits on its own timer.
        reading = core.reading
        if reading is not None and reading.car_connected and not reading.charging:
            return "car", None
        return None, None
    if d is None:
        return None, None
    if paused:
        return "paused", None
    if d.mode == Mode.OFF:
        upcoming = next_window_start(core.schedule, clocks.local)
        if upcoming is not None and core.window is None:
            return "schedule", f"{upcoming:%H:%M}"
        return "off", None
    if d.waiting_for == Waiting.SUN:
        return "sun", None
    return None, None


def build_status(core: "ApplianceCore", clocks: "Clocks") -> CoreStatus:
    from .core import usable_reading

    now = clocks.mono_s
    d = core.decision
    state = core.state
    paused = state.pause_active(clocks.epoch_s)
    waiting, schedule_start = _waiting(core, clocks, paused)
    health = core.health or ChargerHealth(connected=False, holding=False)
    offline = core.wallbox_offline(now)
    r = core.readings
    current = core.sessions.current if core.sessions is not None else None
    cfg = core.controller.cfg   # with the allowance in force (dimmed or not)
    return CoreStatus(
        local_now=clocks.local, mode=state.mode, mode_in_force=d.mode if d else state.mode,
        decision=d, reason=messages.reason(d, cfg) if d else "starting",
        paused=paused, pause_until_epoch_s=state.pause_until_epoch_s if paused else None,
        pause_remaining_s=state.pause_remaining_s(clocks.epoch_s) if paused else None,
        waiting_for=waiting, schedule_start=schedule_start,
        reading=usable_reading(core.reading, core.health, now), health=health,
        starting=not health.connected and not offline, wallbox_offline=offline,
        pv_w=r.pv_w, pv_age_s=None if r.pv_at_s is None else now - r.pv_at_s, grid_w=r.grid_w,
        pushes_accepted=core.accepted_pushes, pushes_rejected=core.rejected_pushes,
        session_energy_wh=current.energy_wh if current else None,
        allowance_w=cfg.allowance_w, start_needs_w=cfg.min_current_a * cfg.watts_per_amp,
        stale_after_s=cfg.stale_after_s, phases=cfg.phases,
        phase_switches_24h=core.phase_command.switches_in_24h if core.phase_command else None,
        storage_problem=((core.sessions.storage_problem if core.sessions is not None else None)
                         or (core.store.storage_problem if core.store is not None else None)),
    )
