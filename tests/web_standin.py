"""A stand-in for the service behind the web page and MQTT: the status dict and the command
callable the runtime hands them, with mode and pause applied by the appliance's own state code."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from appliance.history import HistoryStore
from appliance.state import ApplianceState, apply_command

SESSIONS_CSV = """start,end,energy_wh,pv_energy_wh,peak_current_a,energy_source
2026-10-03T17:10:00+02:00,2026-10-03T21:40:00+02:00,18400,2100,16.0,meter
2026-11-02T08:05:00+01:00,2026-11-02T15:20:00+01:00,24300,15800,24.0,meter
2026-11-20T18:30:00+01:00,2026-11-21T06:10:00+01:00,41200,0,16.0,meter
"""


class StandInService:
    def __init__(self, epoch_s: float = 1_780_000_000.0):
        self.state = ApplianceState("fast")
        self.epoch_s = epoch_s
        self.commands: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.figures = {"pv_w": 5600.0, "grid_w": 310.0, "car_w": 10970.0, "setpoint_a": 16,
                        "budget_w": 16600.0, "session_energy_wh": 5230, "car_connected": True}

    def status(self) -> dict:
        with self.lock:
            state = self.state.expire(self.epoch_s)
            paused = state.paused
            return {
                "mode": state.mode, "mode_in_force": state.mode, "paused": paused,
                "pause_until_epoch_s": state.pause_until_epoch_s, "reason": "fast: allowance + PV",
                "pv_age_s": 2.0, "wallbox_connected": True, "wallbox_error": None, "meter_wh": 120000,
                "pushes_accepted": 10, "pushes_rejected": 0,
                **self.figures, **({"setpoint_a": 0, "car_w": 0.0} if paused else {}),
            }

    def command(self, name: str, **args) -> dict:
        with self.lock:
            self.commands.append((name, args))
            if name == "status":
                return {"ok": True}
            self.state, answer = apply_command(self.state, {"command": name, **args}, now_epoch_s=self.epoch_s)
            return answer


def filled_history(directory, day_start_s: float | None = None) -> HistoryStore:
    """A history store holding a sunny morning, minute by minute."""
    start_s = day_start_s or datetime(2026, 6, 21, 6, 0, tzinfo=timezone.utc).timestamp()
    clock = [start_s]
    store = HistoryStore(directory, clock=lambda: clock[0], tz=timezone.utc)
    for minute in range(0, 8 * 60, 1):
        sun = max(0.0, 1 - ((minute - 300) / 300) ** 2)
        store.add(pv_w=9000 * sun, house_w=500 + (minute % 37) * 10, car_w=11000 if 90 < minute < 330 else 0,
                  allowance_w=11000, battery_w=None)
        clock[0] += 60
    return store
