"""The parts `wallbox demo` is built from: the car's battery, the wallbox it charges at (the EMS box
on Modbus TCP, or the basic box behind meter emulation on pseudo-terminals) and the inverter's
data source (FTP push, Solar API polling, Modbus TCP SunSpec)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .basic_wallbox import VOLTAGE_MV, SimulatedBasicWallbox
from .inverter import SimulatedInverter
from .sunspec_inverter import SimulatedSunSpecInverter
from .wallbox import SimulatedWallbox

BASIC_TIME_SCALE = 40.0   # the basic box's 5-10 s evaluations in an eighth of a real second
BASIC_DIP_LIMIT_A = 32    # DIP 4-5-6 at 32 A: room above the 15 A allowance-only current for PV
HOME_BATTERY_WH = 10_000.0


@dataclass(frozen=True)
class CarBattery:
    """The car: 60 kWh arriving at 30 %, charged to its target; then it draws nothing."""

    capacity_wh: float = 60_000.0
    arrival_pct: float = 30.0
    target_pct: float = 100.0

    def soc_pct(self, charged_wh: float) -> float:
        return min(self.target_pct, self.arrival_pct + charged_wh / self.capacity_wh * 100.0)

    def full(self, charged_wh: float) -> bool:
        return self.soc_pct(charged_wh) >= self.target_pct

    @property
    def needed_wh(self) -> float:
        return (self.target_pct - self.arrival_pct) / 100.0 * self.capacity_wh


class DemoEmsWallbox(SimulatedWallbox):
    """The EMS box with a car whose battery management stops drawing when it is full."""

    def car_full(self) -> None:
        with self._lock:
            self.tick()
            self._car_max_a = 0      # still plugged in, draws nothing (as a full car does)
            self._update_current()

    def held_a(self) -> int:
        """The current the box offers now (its setpoint, or its failsafe current)."""
        return self.granted_a


class BasicBoxView:
    """The basic box as the demo's monitor sees it: the box's grant to the car and the car's draw."""

    violations: tuple = ()
    failsafe_current_a = 0     # a basic box with a silent meter faults and stops charging

    def __init__(self, box: SimulatedBasicWallbox):
        self.box = box

    @property
    def setpoint_a(self) -> int:
        m = self.box.model
        return m.grant_a if m.session and not m.fault else 0

    @property
    def power_w(self) -> int:
        return round(self.box.model.draw_a * VOLTAGE_MV / 1000.0 * 3)

    def car_full(self) -> None:
        self.box.model.car_max_a = 0.0

    def stop(self) -> None:
        self.box.stop()


def basic_charger(meter_port: str, log_port: str):
    """Meter emulation on the appliance's side of the pseudo-terminals (parity N: ptys refuse E).

    Its clock is the runtime's (real seconds), so its readings count as fresh to the core; only
    the LOG is asked as often as the faster box needs (time_scale)."""
    from appliance.chargers.vestel_meter import MeterCharger

    return MeterCharger(meter_port, parity="N", log_port=log_port, dip_limit_a=BASIC_DIP_LIMIT_A,
                        time_scale=BASIC_TIME_SCALE)


class PushSource:
    """The Datamanager's push by FTP, to the runtime's own FTP receiver."""

    name = "push"
    settings: dict = {}

    def __init__(self, house_w: Callable[[], float], car_w: Callable[[], float], interval_s: float):
        self.house_w, self.car_w, self.interval_s = house_w, car_w, interval_s
        self.inverter: SimulatedInverter | None = None

    def start(self, runtime, pv_w: Callable[[], float]) -> None:
        host, port = runtime.receiver.address
        f = runtime.settings.fronius
        self.inverter = SimulatedInverter(host=host, port=port, user=f.ftp_user, password=f.ftp_password,
                                          interval_s=self.interval_s, pv_w=pv_w, house_w=self.house_w,
                                          car_w=self.car_w)
        self.inverter.start()

    def update(self, pv_w: float) -> None:
        """Nothing to do: the push asks for its figures when it uploads."""

    def stop_data(self) -> None:
        if self.inverter is not None:
            self.inverter.pause_pushing()

    def close(self) -> None:
        if self.inverter is not None:
            self.inverter.stop()


class PolledSource:
    """A GEN24 with a 10 kWh home battery, asked over the Solar API (HTTP) or SunSpec (Modbus TCP)."""

    def __init__(self, name: str, house_w: Callable[[], float], car_w: Callable[[], float],
                 day_clock_s: Callable[[], float], interval_s: float):
        self.name, self.house_w, self.car_w = name, house_w, car_w
        # The home battery charges in the day's time, so its state of charge moves as on a real day.
        self.sim = SimulatedSunSpecInverter(capacity_wh=HOME_BATTERY_WH, soc_pct=20.0, clock=day_clock_s)
        if name == "sunspec":
            port = self.sim.serve_tcp("127.0.0.1", 0)
            self.settings = {"source": "sunspec", "sunspec_host": "127.0.0.1", "sunspec_port": port,
                             "solar_api_interval_s": interval_s}
        else:
            port = self.sim.serve_solar_api("127.0.0.1", 0)
            self.settings = {"source": "solar_api", "solar_api_url": f"http://127.0.0.1:{port}",
                             "solar_api_interval_s": interval_s}

    def start(self, runtime, pv_w: Callable[[], float]) -> None:
        self.update(pv_w())

    def update(self, pv_w: float) -> None:
        self.sim.set(production_w=pv_w, house_w=self.house_w(), car_w=self.car_w())

    @property
    def soc_pct(self) -> float:
        return self.sim.soc_pct

    def stop_data(self) -> None:
        self.sim.stop()    # the inverter leaves the network: no answers at all

    def close(self) -> None:
        self.sim.stop()


def make_source(name: str, house_w: Callable[[], float], car_w: Callable[[], float],
                day_clock_s: Callable[[], float], interval_s: float):
    if name == "push":
        return PushSource(house_w, car_w, interval_s)
    return PolledSource(name, house_w, car_w, day_clock_s, interval_s)


def day_seconds(t0: float, scale: float) -> Callable[[], float]:
    """Seconds of the simulated day since the demo began (for the home battery's clock)."""
    return lambda: (time.monotonic() - t0) * scale
