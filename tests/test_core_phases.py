"""1p/3p switching in the core: the decision, the hold, the phases the allowance rule counts.

The core is stepped second by second with a car that follows the setpoint on the phases the core
asked for (the driver's pause and switch are the EMS tests' subject)."""

import pytest

from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.core import ApplianceCore, Clocks
from appliance.policy.control import PolicySettings
from appliance.policy.phases import PhaseSettings
from appliance.sources.fronius import Measurement

UP = ChargerHealth(connected=True, holding=True)
PHASES = PhaseSettings(pause_s=120.0, max_switches_per_day=4)


class House:
    """A core, a house with PV and a car on the phases the core asked for."""

    def __init__(self, can_switch=True, allowance_w=11000.0, phases=PHASES, car_lag_s=0):
        self.core = ApplianceCore(PolicySettings(allowance_w=allowance_w, ramp_up_interval_s=30),
                                  default_mode="pv", phases=phases, logger=None)
        self.can_switch = can_switch
        self.box_phases = 3
        self.setpoint_a = 0
        self.t = 0
        self.held = False
        self.log: list[tuple[int, int, int]] = []   # (t, setpoint, phases counted)
        self.car_lag_s = car_lag_s                   # the car follows the setpoint this late
        self.switched_at: list[int] = []

    def run(self, seconds, pv_w, house_w=600.0):
        for _ in range(seconds):
            car_a = self.log[-1 - self.car_lag_s][1] if len(self.log) > self.car_lag_s else 0
            car_a = min(car_a, self.setpoint_a) if not self.car_lag_s else car_a
            car_w = car_a * self.box_phases * 230.0
            amps = float(car_a)
            currents = (amps, amps if self.box_phases == 3 else 0.0, amps if self.box_phases == 3 else 0.0)
            self.core.charger(ChargerReading(at_s=self.t, car_connected=True, charging=car_w > 0,
                                             power_w=car_w, currents_a=currents, limit_a=32,
                                             phases_in_use=self.box_phases), UP)
            if self.t % 10 == 0:
                self.core.measurement(Measurement(
                    pv_w=pv_w, grid_w=house_w + car_w - pv_w, load_w=None, battery_w=None,
                    kind="powerflow", inverter_time=None, source="test", received_at=float(self.t)))
            self.core.phase_switcher(self.can_switch)
            self.setpoint_a = self.core.tick(Clocks(float(self.t), None, 1e9 + self.t))
            self.held |= self.core.phase_command is not None and self.core.phase_command.hold_current
            wanted = self.core.phases_wanted
            if wanted is not None and wanted != self.box_phases:
                assert self.setpoint_a == 0 and amps == 0, "a switch under load"
                self.switched_at.append(self.t)
                self.box_phases = wanted          # the driver switches while the current is 0
            self.log.append((self.t, self.setpoint_a, self.core.controller.cfg.phases))
            self.t += 1


def test_a_small_surplus_switches_to_one_phase_and_charges_on_it():
    h = House()
    h.run(600, pv_w=3000.0)        # 2.4 kW surplus: below the three-phase minimum (4.1 kW)
    assert h.core.phases_wanted == 1 and h.box_phases == 1
    assert h.core.controller.cfg.phases == 1          # 230 W per amp now
    assert h.setpoint_a == 10                          # 2400 W / 230 V, whole amps
    assert h.held
    status = h.core.status(Clocks(float(h.t), None, 1e9 + h.t)).as_dict()
    assert status["phases"] == 1 and status["phase_switches_24h"] == 1
    # The switch held the current at 0 for the pause before the car charged on one phase.
    first_on = next(t for t, sp, ph in h.log if sp > 0)
    assert first_on >= 60 + PHASES.pause_s


def test_a_strong_surplus_switches_back_to_three_phases():
    h = House()
    h.run(600, pv_w=3000.0)
    h.run(600, pv_w=9000.0)        # 8.4 kW: beyond three_phase_above_w
    assert h.core.phases_wanted == 3 and h.box_phases == 3
    assert h.core.controller.cfg.phases == 3 and h.setpoint_a == 12


def test_a_switch_waits_until_the_car_draws_no_more():
    h = House(car_lag_s=15)
    h.run(300, pv_w=9000.0)
    assert h.setpoint_a > 0
    h.run(600, pv_w=3000.0)
    assert h.switched_at and h.box_phases == 1
    held_from = next(t for t, sp, _ in h.log if t > 300 and sp == 0)
    assert h.switched_at[0] >= held_from + 15     # the car's current took 15 s to reach 0


def test_without_a_switcher_no_phase_decision_and_no_hold():
    h = House(can_switch=False)
    h.run(900, pv_w=3000.0)
    assert h.core.phases_wanted is None and h.box_phases == 3 and not h.held
    assert all(ph == 3 for _, _, ph in h.log)


def test_no_phase_settings_no_decider():
    h = House(phases=None)
    h.run(300, pv_w=3000.0)
    assert h.core.phase_decider is None and h.core.phases_wanted is None


def test_switches_a_day_are_limited():
    h = House(phases=PhaseSettings(pause_s=10.0, max_switches_per_day=2))
    for _ in range(4):
        h.run(400, pv_w=3000.0)
        h.run(400, pv_w=9000.0)
    assert h.core.phase_decider.state.switch_times_s and len(h.core.phase_decider.state.switch_times_s) == 2


@pytest.mark.parametrize("reported", [3, None])
def test_an_unconfirmed_switch_counts_the_larger_phase_count(reported):
    """Wanted 1 phase, but the box still reports 3 (or nothing): the allowance counts 3 phases
    (fewer amps), the safe side."""
    h = House()
    h.run(600, pv_w=3000.0)
    assert h.core.phases_wanted == 1
    h.box_phases = 3 if reported else 1
    h.core.charger(ChargerReading(at_s=h.t, car_connected=True, charging=False, power_w=0.0,
                                  currents_a=(0.0, 0.0, 0.0), limit_a=32, phases_in_use=reported), UP)
    h.core.tick(Clocks(float(h.t), None, 1e9 + h.t))
    assert h.core.controller.cfg.phases == (3 if reported else 1)


def test_allowance_rule_counts_the_phases_in_use():
    """Rule 2 with 1p: setpoint x phases counted x voltage <= allowance + PV, every second."""
    h = House(allowance_w=0.0)
    h.run(900, pv_w=3000.0)
    for t, sp, ph in h.log:
        assert sp * ph * 230.0 <= 0.0 + 3000.0 + 1e-6, t
    assert h.setpoint_a == 10
