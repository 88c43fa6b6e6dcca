"""pv and minpv in the core with the PV-surplus control: start at plug-in, a clean slate after a
pause, sentences for every answer. Stepped second by second."""

import pytest

from appliance import messages
from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.commands import validate
from appliance.core import ApplianceCore, Clocks
from appliance.policy.control import _PV_REASONS, PolicySettings
from appliance.policy.pv_surplus import PvReason
from appliance.sources.fronius import Measurement

UP = ChargerHealth(connected=True, holding=True)


class Day:
    def __init__(self, mode):
        self.core = ApplianceCore(PolicySettings(), default_mode=mode, logger=None)
        self.t, self.setpoint_a, self.plugged = 0, 0, False

    def clocks(self):
        return Clocks(float(self.t), None, 1e9 + self.t)

    def run(self, seconds, surplus_w, house_w=500.0):
        started = None
        for _ in range(seconds):
            car_w = self.setpoint_a * 690.0 if self.plugged else 0.0
            a = car_w / 690.0
            self.core.charger(ChargerReading(at_s=self.t, car_connected=self.plugged,
                                             charging=car_w > 0, power_w=car_w,
                                             currents_a=(a, a, a), limit_a=32), UP)
            if self.t % 10 == 0:
                pv_w = surplus_w + house_w
                self.core.measurement(Measurement(
                    pv_w=pv_w, grid_w=house_w + car_w - pv_w, load_w=None, battery_w=None,
                    kind="powerflow", inverter_time=None, source="test", received_at=float(self.t)))
            self.setpoint_a = self.core.tick(self.clocks())
            if self.setpoint_a and started is None:
                started = self.t
            self.t += 1
        return started


@pytest.mark.parametrize("mode", ["pv", "minpv"])
def test_a_car_plugged_into_a_surplus_starts_at_the_next_reading(mode):
    day = Day(mode)
    day.run(300, surplus_w=6000.0)
    assert day.setpoint_a == 0
    day.plugged = True
    plugged_at = day.t
    started = day.run(60, surplus_w=6000.0)
    assert started is not None and started - plugged_at <= 10
    assert day.setpoint_a == 8          # 6000 W / 690 W per amp, whole amps


def test_pv_without_surplus_does_not_start_at_plug_in():
    day = Day("pv")
    day.plugged = True
    assert day.run(600, surplus_w=3000.0) is None
    assert day.core.decision.reason == "pv_waiting"
    assert "waiting for 6 A of surplus" in messages.reason(day.core.decision, day.core.controller.cfg)


def test_after_a_pause_the_pv_control_starts_from_a_clean_slate():
    day = Day("pv")
    day.plugged = True
    day.run(120, surplus_w=6000.0)
    assert day.setpoint_a == 8 and day.core.controller.pv is not None
    valid, _ = validate({"command": "pause", "minutes": 1})
    day.core.command(valid, day.clocks())
    day.run(5, surplus_w=6000.0)
    assert day.setpoint_a == 0 and day.core.controller.pv is None
    day.run(120, surplus_w=6000.0)    # the pause is over: a fresh control, a car in the sun
    assert day.setpoint_a == 8


def test_every_pv_answer_has_a_sentence():
    day = Day("pv")
    day.plugged = True
    day.run(30, surplus_w=6000.0)
    d, cfg = day.core.decision, day.core.controller.cfg
    for pv_reason in PvReason:
        reason, _ = _PV_REASONS[pv_reason]
        text = messages.reason(d._replace(reason=reason, timer_s=12.0, deficit_wh=40.0), cfg)
        assert text and "{" not in text, pv_reason
