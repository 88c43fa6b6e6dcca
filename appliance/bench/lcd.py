"""Bytes sent to the LCD per update over a typical hour of charging, counted at the SPI seam.

An hour of a cloudy summer day (appliance.sim.day, 11:00-12:00, PV pushed every 3 s) becomes one
screen state a second, as the service draws it: fast mode at 11 kW allowance plus PV, the car
following the setpoint. Each state goes through display's real `render` and the st7735
backend's change detection and windows; only the kernel below them is replaced: `spidev` counts
the bytes it would clock out, `gpiod` lines are no-ops. No panel, no sleeping.
"""

from __future__ import annotations

import enum
import sys
import types
from contextlib import contextmanager
from datetime import datetime, timedelta

FULL_FRAME_BYTES = 160 * 128 * 2
VOLTAGE_V, PHASES, ALLOWANCE_W = 230.0, 3, 11000.0


class _Wire:
    def __init__(self) -> None:
        self.spi_bytes = 0


def _kernel_seam(wire: _Wire) -> dict[str, types.ModuleType]:
    spidev = types.ModuleType("spidev")

    class SpiDev:
        def __init__(self, port=None, cs=None) -> None:
            self.mode, self.lsbfirst, self.max_speed_hz = 0, False, 0

        def writebytes2(self, data) -> None:
            wire.spi_bytes += len(data)

        def close(self) -> None:
            pass

    spidev.SpiDev = SpiDev
    gpiod, line = types.ModuleType("gpiod"), types.ModuleType("gpiod.line")
    line.Direction = enum.Enum("Direction", "INPUT OUTPUT")
    line.Value = enum.Enum("Value", "INACTIVE ACTIVE")
    gpiod.line = line
    gpiod.LineSettings = lambda **settings: types.SimpleNamespace(**settings)
    gpiodevice = types.ModuleType("gpiodevice")

    class Lines:
        def set_value(self, offset, value) -> None:
            pass

    gpiodevice.get_pin = lambda pin, label, settings: (Lines(), pin)
    return {"spidev": spidev, "gpiod": gpiod, "gpiod.line": line, "gpiodevice": gpiodevice}


@contextmanager
def _fake_kernel(wire: _Wire):
    seam = _kernel_seam(wire)
    saved = {name: sys.modules.get(name) for name in seam}
    sys.modules.update(seam)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def typical_hour(seconds: int = 3600, push_s: int = 3):
    """One screen state a second: (Snapshot, ...) for 11:00 + `seconds` of a cloudy day."""
    from display.samples import samples

    from ..sim.day import cloudy_day, hms

    start = hms("11:00")
    day = cloudy_day(seed=1, start_s=start, end_s=start + seconds)
    base = samples()["charging_fast_sun"]
    midnight = datetime(2026, 6, 22)
    states = []
    for i in range(seconds):
        pushed = i - i % push_s
        pv_w, house_w = day.pv_w[pushed], day.house_w[pushed]
        budget_w = ALLOWANCE_W + pv_w
        setpoint_a = max(6, min(32, int(budget_w / (VOLTAGE_V * PHASES))))
        current_a = setpoint_a - 0.1 * ((i * 7) % 3)
        car_w = current_a * VOLTAGE_V * PHASES
        states.append(base.replace(
            now=midnight + timedelta(seconds=start + i), pv_w=pv_w, pv_age_s=float(i - pushed),
            budget_w=budget_w, setpoint_a=setpoint_a, current_a=current_a, car_power_w=car_w,
            grid_w=house_w + car_w - pv_w))
    return states


def lcd_bytes_per_update(seconds: int = 3600) -> tuple[float, int, int]:
    """(mean bytes per update, updates, seconds): what the st7735 backend sends for the typical hour."""
    from display.screens import render

    wire = _Wire()
    with _fake_kernel(wire):
        import display.panel_st7735 as panel_module
        from display.backends import make_backend

        sleep, panel_module.sleep = panel_module.sleep, (lambda s: None)
        try:
            panel = make_backend("st7735")
            states = typical_hour(seconds)
            panel.show(render(states[0]))
            after_first = wire.spi_bytes
            updates = sum(1 for s in states[1:] if panel.show(render(s)))
        finally:
            panel_module.sleep = sleep
    return (wire.spi_bytes - after_first) / max(1, updates), updates, seconds
