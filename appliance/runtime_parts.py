"""What the runtime builds from the settings: the wallbox driver, the battery rules, the dimming
input. Kept apart so that runtime.py holds the threads and the control loop only."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .chargers.base import Charger
from .config import Settings
from .policy.battery import BatteryRules


def make_charger(settings: Settings, clock: Callable[[], float]) -> Charger:
    """The wallbox driver the settings ask for."""
    kind = getattr(settings.wallbox, "kind", "ems")
    if kind == "meter":   # a basic EVC04: the appliance answers its meter polls, reads its LOG port
        from .chargers.vestel_meter import MeterCharger

        return MeterCharger.from_settings(settings, clock=clock)
    from .chargers.vestel_ems import EmsCharger

    return EmsCharger.from_settings(settings, clock=clock)


def battery_rules(settings: Settings) -> BatteryRules:
    b = getattr(settings, "battery", None)
    if b is None:
        return BatteryRules()
    return BatteryRules(priority_soc_pct=b.priority_soc_pct, car_may_discharge=b.car_may_discharge)


def dimming_monitor(settings: Settings):
    """The grid operator's dimming input, or None when [dimming] pin = 0."""
    if getattr(settings, "dimming", None) is None or not settings.dimming.pin:
        return None
    from .dimming import DimmingMonitor, DimmingSettings

    return DimmingMonitor.open(DimmingSettings.from_settings(settings), Path(settings.state.dir))


def no_data_hint(fronius) -> str:
    """What to check when no inverter data comes: the first cycle's warning ends with it."""
    source = getattr(fronius, "source", "push")
    if source == "sunspec":
        return (f"Check that the inverter answers Modbus TCP (SunSpec) at "
                f"{fronius.sunspec_host}:{fronius.sunspec_port}.")
    if source == "solar_api":
        return f"Check that the inverter's Solar API answers at {fronius.solar_api_url}."
    return f"Check the inverter's Push Service (server, port {fronius.ftp_port}, user and password)."
