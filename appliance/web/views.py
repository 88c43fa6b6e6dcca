"""What the web page shows, as plain JSON-ready dicts built from the plain inputs.

Nothing here asks the wallbox or the policy: the state comes from the service's status dict,
the chart from the history store, the sessions from the sessions CSV.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import date
from pathlib import Path
from typing import Any

from ..sessions import monthly_totals, read_sessions

# The same words the front panel's header shows, so the phone and the screen agree.
STATES = ("starting", "problem", "charging", "paused", "no_car", "off", "waiting")
CHARGING_MIN_W = 100.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def state_name(status: dict) -> str:
    """The screen's state for this status (the header word on the panel)."""
    if not status or (status.get("reason") == "starting" and not status.get("wallbox_connected")):
        return "starting"
    if not status.get("wallbox_connected"):
        return "problem"
    setpoint_a = _number(status.get("setpoint_a")) or 0.0
    car_w = _number(status.get("car_w")) or 0.0
    if setpoint_a > 0 and car_w >= CHARGING_MIN_W:
        return "charging"
    if status.get("paused"):
        return "paused"
    if status.get("car_connected") is False:
        return "no_car"
    if status.get("mode_in_force") == "off":
        return "off"
    return "waiting"


_PLAIN_KEYS = ("mode", "mode_in_force", "paused", "pause_until_epoch_s", "setpoint_a", "reason",
               "budget_w", "pv_w", "pv_age_s", "grid_w", "wallbox_connected", "wallbox_error",
               "car_connected", "car_w", "meter_wh", "session_energy_wh", "battery_w", "soc_pct",
               "dimmed")


def state_view(status: dict, stale_after_s: float | None) -> dict:
    """The live state for the page: the status fields it shows, plus the screen's state word."""
    view = {key: status.get(key) for key in _PLAIN_KEYS}
    for key in ("setpoint_a", "budget_w", "pv_w", "pv_age_s", "grid_w", "car_w", "session_energy_wh",
                "battery_w", "soc_pct", "pause_until_epoch_s"):
        view[key] = _number(view[key])
    age_s = view["pv_age_s"]
    view["pv_stale"] = age_s is None or (stale_after_s is not None and age_s > stale_after_s)
    view["stale_after_s"] = stale_after_s
    view["state"] = state_name(status)
    return view


def history_view(store, day: date | None = None) -> dict:
    """Today's per-minute figures (or `day`'s) for the chart."""
    if store is None:
        return {"day": None, "minutes": [], "has_battery": False, "days": []}
    minutes = store.day(day)
    return {
        "day": (day or store.today()).isoformat(),
        "fields": ["minute", "pv_w", "house_w", "car_w", "allowance_w", "battery_w"],
        "minutes": [m.row() for m in minutes],
        "has_battery": any(m.battery_w is not None for m in minutes),
        "days": [d.isoformat() for d in store.days()],
    }


def sessions_view(csv_path: Path | str | None, status: dict, limit: int = 50) -> dict:
    """The newest sessions first, the monthly totals, and the one still open."""
    sessions = read_sessions(csv_path) if csv_path else []
    rows = [{
        "start": s.start.isoformat(timespec="minutes"), "end": s.end.isoformat(timespec="minutes"),
        "energy_kwh": round(s.energy_wh / 1000, 2), "pv_kwh": round(min(s.pv_energy_wh, s.energy_wh) / 1000, 2),
        "peak_current_a": round(s.peak_current_a, 1), "energy_source": s.energy_source,
    } for s in reversed(sessions[-limit:])]
    months = [{"month": m.month, "sessions": m.sessions, "energy_kwh": round(m.energy_kwh, 2),
               "pv_kwh": round(m.pv_kwh, 2), "pv_share_pct": round(m.pv_share * 100)}
              for m in reversed(monthly_totals(sessions))]
    open_wh = _number(status.get("session_energy_wh"))
    return {"sessions": rows, "months": months,
            "open": None if open_wh is None else {"energy_kwh": round(open_wh / 1000, 2)}}


def _secret(f: dataclasses.Field) -> bool:
    """A password, or a key the settings declare secret."""
    return "password" in f.name or bool(getattr(f.metadata.get("key"), "secret", False))


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_shown(name, v) for v in value]
    if dataclasses.is_dataclass(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def settings_view(settings: Any) -> dict:
    """The settings in force, section by section; every password only says whether it is set."""
    if settings is None or not dataclasses.is_dataclass(settings):
        return {}
    out: dict[str, dict] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        out[section.name] = {
            f.name: ("(set)" if getattr(values, f.name) else "(not set)") if _secret(f) else
            _shown(f.name, getattr(values, f.name))
            for f in dataclasses.fields(values)}
    return out
