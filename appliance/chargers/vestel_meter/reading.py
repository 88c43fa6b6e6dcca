"""From the LOG snapshot to the charger interface's reading, with the plausibility rule.

A value outside physical bounds never reaches the core: the reading is None, and the value is
logged once with why (a garbled line that still parses, a wrong baud rate).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..base import ChargerReading
from .log_parser import BoxLog

log = logging.getLogger("appliance.vestel_meter")

MAX_CURRENT_A = 80.0         # the largest DIP limit
MAX_VOLTAGE_V = 300.0
MAX_POWER_W = 60_000.0       # three phases at 80 A and 250 V
MAX_ENERGY_WH = 10_000_000_000.0


@dataclass(frozen=True)
class Implausible:
    what: str
    value: float
    why: str

    def sentence(self) -> str:
        return (f"The wallbox LOG says {self.what} = {self.value:g}, which {self.why}: "
                "ignoring the LOG reading (check the LOG wiring and log_baudrate).")


def implausible(box_log: BoxLog) -> Implausible | None:
    """The first value in the snapshot that cannot be real, or None."""
    for p in (p for p in box_log.phases if p is not None):
        if p.current_ma / 1000.0 > MAX_CURRENT_A:
            return Implausible(f"P{p.phase} current", p.current_ma / 1000.0, f"is over {MAX_CURRENT_A:g} A")
        if p.voltage_mv / 1000.0 > MAX_VOLTAGE_V:
            return Implausible(f"P{p.phase} voltage", p.voltage_mv / 1000.0, f"is over {MAX_VOLTAGE_V:g} V")
        if abs(p.power_w) > MAX_POWER_W / 3:
            return Implausible(f"P{p.phase} power", p.power_w, f"is over {MAX_POWER_W / 3:g} W a phase")
        if p.energy_wh > MAX_ENERGY_WH:
            return Implausible(f"P{p.phase} energy", p.energy_wh, "is more than a wallbox ever delivers")
    for what, value in (("lb current (the grant)", box_log.grant_a), ("ev current", box_log.ev_current_a),
                        ("max_offered_current", box_log.max_offered_a)):
        if value is not None and value > MAX_CURRENT_A:
            return Implausible(what, value, f"is over {MAX_CURRENT_A:g} A")
    if box_log.control is not None and box_log.control.offered_a > MAX_CURRENT_A:
        return Implausible("Cmax", box_log.control.offered_a, f"is over {MAX_CURRENT_A:g} A")
    return None


class SessionEnergy:
    """Session energy from the per-phase Wh counters, whether they count for ever or per session."""

    def __init__(self):
        self._baseline_wh: float | None = None
        self._was_connected = False

    def update(self, total_wh: float, car_connected: bool) -> float | None:
        if car_connected and not self._was_connected:
            self._baseline_wh = total_wh
        self._was_connected = car_connected
        if not car_connected or self._baseline_wh is None:
            return None
        if total_wh < self._baseline_wh:   # the box reset its counters at the session start
            self._baseline_wh = 0.0
        return total_wh - self._baseline_wh


def car_connected(box_log: BoxLog) -> bool:
    if box_log.control is not None:
        return box_log.control.cp_state[0] in "BC"
    return bool(box_log.grant_a)


def reading_from_log(box_log: BoxLog, at_s: float, limit_a: int, session_energy_wh: float | None) -> ChargerReading:
    phases = [p for p in box_log.phases]
    currents = tuple(0.0 if p is None else p.current_ma / 1000.0 for p in phases)
    total_wh = float(sum(p.energy_wh for p in phases if p is not None))
    connected = car_connected(box_log)
    charging = connected and box_log.car_draw_a >= 1.0
    drawing = sum(1 for i in currents if i >= 1.0)
    fault = None
    if box_log.errors:
        codes = ", ".join(str(c) for c in sorted(box_log.errors))
        fault = f"The wallbox reports error {codes} on its LOG: see its manual, or power it off and on."
    return ChargerReading(
        at_s=at_s, car_connected=connected, charging=charging,
        power_w=float(sum(p.power_w for p in phases if p is not None)),
        currents_a=currents, limit_a=limit_a,
        offered_a=None if box_log.grant_a is None else float(box_log.grant_a),
        meter_wh=total_wh, session_energy_wh=session_energy_wh if connected else None,
        phases_in_use=drawing if charging else None, fault=fault,
    )
