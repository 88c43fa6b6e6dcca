"""The runtime hands the core's 1p/3p decision to a PhaseSwitcher (once per decision; the driver
pauses, switches, resumes and writes it again after a reconnect), and a charger that is no
PhaseSwitcher never gets one. The runtime's cycle is stepped with a stepped clock."""

from datetime import datetime

import pytest

from appliance.chargers.base import ChargerHealth, ChargerIdentity, ChargerReading, PhaseSwitcher
from appliance.config import Settings, with_overrides
from appliance.runtime import Runtime
from appliance.sources.fronius import Measurement


class Box:
    """A wallbox with a car that follows the setpoint on the phases the box is set to."""

    kind = "ems"
    link_hint = "nothing to check"

    def __init__(self, clock):
        self.clock = clock
        self.setpoint_a, self.phases = 0, 3
        self.handed: list[int] = []

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def set_setpoint(self, current_a: int) -> None:
        self.setpoint_a = current_a

    def reading(self) -> ChargerReading:
        a = float(self.setpoint_a)
        return ChargerReading(at_s=self.clock(), car_connected=True, charging=a > 0,
                              power_w=a * self.phases * 230.0,
                              currents_a=(a, a if self.phases == 3 else 0.0, a if self.phases == 3 else 0.0),
                              limit_a=32, phases_in_use=self.phases)

    def health(self) -> ChargerHealth:
        return ChargerHealth(connected=True, holding=True)

    def identity(self) -> ChargerIdentity:
        return ChargerIdentity(kind="ems", description="test box")


class SwitchingBox(Box):
    def can_switch_phases(self) -> bool:
        return True

    def set_phases(self, phases: int) -> None:
        assert self.setpoint_a == 0, "switched under load"
        self.handed.append(phases)
        self.phases = phases


def run_day(tmp_path, box_class, seconds=600, surplus_w=2400.0):
    now = [0.0]
    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
        control={"mode": "pv"}, wallbox={"phase_switching": True, "phase_switch_pause_s": 60},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    box = box_class(lambda: now[0])
    runtime = Runtime(settings, charger=box, ip_address="127.0.0.1", clock=lambda: now[0],
                      wall_clock=lambda: datetime(2026, 1, 15, 12, 0), epoch_clock=lambda: 1e9 + now[0])
    try:
        for t in range(seconds):
            now[0] = float(t)
            if t % 10 == 0:
                car_w = box.setpoint_a * box.phases * 230.0
                runtime.core.measurement(Measurement(
                    pv_w=surplus_w + 500.0, grid_w=500.0 + car_w - surplus_w - 500.0, load_w=None,
                    battery_w=None, kind="powerflow", inverter_time=None, source="test",
                    received_at=float(t)))
            runtime.cycle()
    finally:
        runtime.close()
    return runtime, box


def test_the_switcher_gets_the_decision_once_and_the_car_charges_on_one_phase(tmp_path):
    runtime, box = run_day(tmp_path, SwitchingBox)
    assert isinstance(box, PhaseSwitcher)
    assert box.handed == [1]
    assert box.phases == 1 and box.setpoint_a == 10          # 2400 W / 230 V
    assert runtime.core.controller.cfg.phases == 1


def test_a_box_without_a_switcher_gets_no_phase_decision(tmp_path):
    runtime, box = run_day(tmp_path, Box)
    assert not isinstance(box, PhaseSwitcher)
    assert runtime.core.phases_wanted is None and box.phases == 3
    assert box.setpoint_a == 0        # 2.4 kW is below the three-phase minimum (4.1 kW)
