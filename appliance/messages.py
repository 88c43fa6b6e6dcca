"""Every sentence the core says, made in one place from codes and numbers.

The policy decides in codes (appliance.policy.types) and numbers; the log, the screen's status
and the control socket's "reason" all take their words from here, so a sentence a user or a test
relies on is written once.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from .policy.control import Decision, PolicySettings
from .policy.types import Reason


def fmt_kw(watts: float) -> str:
    return f"{watts / 1000:.1f} kW"


def _surplus(d: Decision) -> str:
    est = " (estimated: PV - house base load)" if d.surplus_estimated else ""
    return f"PV surplus {fmt_kw(max(0.0, d.surplus_w or 0.0))}{est}"


def _import_note(d: Decision, cfg: PolicySettings) -> str:
    if d.house_w is None:
        return ""
    return f", house import limit {fmt_kw(cfg.import_limit_w)} (house {fmt_kw(d.house_w)})"


def why(d: Decision, cfg: PolicySettings) -> str:
    """What made the setpoint, in one sentence (without the pending raise)."""
    r = d.reason
    timer = d.timer_s or 0.0
    if r == Reason.PAUSED:
        return "Paused"
    if r == Reason.MODE_OFF:
        return "Mode off"
    if r == Reason.NO_CAR:
        return "No car connected"
    if r == Reason.FAST_PV:
        counted = d.pv_counted_w - d.pv_reserve_w
        clouds = f" (clouds: counting {fmt_kw(counted)})" if d.pv_reserve_w else ""
        return (f"PV {fmt_kw(d.pv_counted_w)}{clouds} + allowance {fmt_kw(cfg.allowance_w)}"
                f"{_import_note(d, cfg)}")
    if r == Reason.FAST_ALLOWANCE_ONLY:
        return f"Allowance only {fmt_kw(cfg.allowance_w)} (no fresh PV data){_import_note(d, cfg)}"
    if r == Reason.MINPV:
        return f"Minimum current + {_surplus(d)}"
    if r == Reason.PHASE_SWITCH:
        return "Switching phases: the current is held at 0 A until the car restarts on the new phases"
    surplus = _surplus(d)
    return f"{surplus}: {_pv_why(d, cfg)}" if r in _PV_WHY else surplus


_PV_WHY = {
    Reason.PV_NO_DATA: "no fresh reading of the grid meter or the inverter, so no PV surplus is known",
    Reason.PV_WAITING: "waiting for {min_a} A of surplus",
    Reason.PV_STARTING: "starting in {timer:.0f} s if it holds",
    Reason.PV_RESTART_WAIT: "next start in {timer:.0f} s (the car is not started again and again)",
    Reason.PV_CLOUDY: "not starting: under these clouds charging cost the grid too much in the "
                      "last 20 minutes",
    Reason.PV_HOLDING: "holding {min_a} A through the dip; the grid has paid {deficit:.0f} Wh so far",
    Reason.PV_STOPPING: "stopped: holding {min_a} A through this dip cost the grid {deficit:.0f} Wh",
    Reason.PV_STOPPED_CLOUDY: "stopped: under these clouds charging cost the grid too much",
    Reason.PV_STOPPED_BATTERY: "stopped: holding {min_a} A would take the home battery's charge "
                               "(it is below its priority level)",
    Reason.PV_STOPPED_WEAK_SUN: "stopped: the sun is too weak for {min_a} A for a while",
}


def _pv_why(d: Decision, cfg: PolicySettings) -> str:
    return _PV_WHY[d.reason].format(min_a=cfg.min_current_a, timer=d.timer_s or 0.0,
                                    deficit=d.deficit_wh or 0.0)


def reason(d: Decision, cfg: PolicySettings) -> str:
    """The status's "reason": why, and the raise still to come."""
    text = why(d, cfg)
    if d.raise_in_s is not None:
        text += f"; raising to {d.target_a} A in {d.raise_in_s:.0f} s"
    return text


def setpoint_changed(d: Decision, cfg: PolicySettings, previous_a: int | None) -> str:
    """The log line when the setpoint changes: "PV 5.6 kW + allowance 11.0 kW -> 24 A (was 15 A)"."""
    was = "" if previous_a is None else f" (was {previous_a} A)"
    later = ""
    if d.raise_in_s is not None:
        later = f"; raising to {d.target_a} A allowed in {d.raise_in_s:.0f} s"
    return f"{why(d, cfg)} -> {d.setpoint_a} A{was}{later}"


def phases_switched(from_phases: int, to_phases: int, switches_in_24h: int, max_per_day: int) -> str:
    why = "the PV surplus fits one phase" if to_phases == 1 else "the PV surplus needs three phases"
    return (f"Switching from {from_phases} to {to_phases} phase{'s' if to_phases > 1 else ''}: {why} "
            f"(switch {switches_in_24h} of at most {max_per_day} in 24 h; the limit is "
            "[wallbox] max_phase_switches_per_day).")


def first_data(source: str, pv_w: float) -> str:
    return f"First inverter data arrived ({source}): PV {fmt_kw(pv_w)}."


def data_again(source: str, pv_w: float) -> str:
    return f"Inverter data arrives again ({source}): PV {fmt_kw(pv_w)} counts again."


def data_stale(age_s: float, stale_after_s: float, setpoint_a: int) -> str:
    return f"Inverter data is {age_s:.0f} s old (limit {stale_after_s:.0f} s): allowance only, {setpoint_a} A."


def no_data(setpoint_a: int, hint: str) -> str:
    return f"No inverter data yet: allowance only, {setpoint_a} A. {hint}".rstrip()


def mode_changed(mode: str, previous: str | None) -> str:
    return f"Mode is now {mode} (was {previous})."


def paused(until_epoch_s: float | None, tz: tzinfo | None) -> str:
    until = (f"until {datetime.fromtimestamp(until_epoch_s, tz):%H:%M}" if until_epoch_s
             else "until resumed")
    return f"Paused {until}: charging current 0 A."


def resumed(mode: str) -> str:
    return f"Resumed: charging in mode {mode}."


def pause_over(mode: str) -> str:
    return f"Pause over: charging again in mode {mode}."


def restored(path, mode: str, is_paused: bool) -> str:
    return f"Restored from {path}: mode {mode}{', paused' if is_paused else ''}."


def starting(version: str, allowance_w: float, phases: int, voltage_v: float, failsafe_a: int,
             failsafe_timeout_s: float) -> str:
    return (f"Wallbox appliance {version} starting: allowance {fmt_kw(allowance_w)}, {phases} phases "
            f"x {voltage_v:g} V, failsafe {failsafe_a} A after {failsafe_timeout_s:g} s.")
