"""ApplianceCore stepped second by second: no threads, no sockets, no sleeping.

Where time is the subject (staleness, ramp, pause expiry, schedule, sessions) the test steps the
core's clocks; the runtime's own tests cover the threads and sockets."""

import logging
import math
from datetime import datetime, time, timedelta

import pytest

from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.commands import validate
from appliance.config import ScheduleWindow
from appliance.core import ApplianceCore, Clocks, usable_reading
from appliance.policy.control import PolicySettings
from appliance.sessions import SessionTracker, read_sessions
from appliance.sources.fronius import Measurement
from appliance.state import StateStore

UP = ChargerHealth(connected=True, holding=True)
DOWN = ChargerHealth(connected=False, holding=False, problem="No answer from 127.0.0.1:1")
NOON = datetime(2026, 6, 21, 12, 0)
EPOCH = 1_790_000_000.0


class Rig:
    """A core and its three clocks, stepped by the test."""

    def __init__(self, policy=None, **core_args):
        self.core = ApplianceCore(policy or PolicySettings(), **core_args)
        self.t = 0.0
        self.local0 = core_args.pop("local0", NOON)

    def clocks(self) -> Clocks:
        return Clocks(self.t, self.local0 + timedelta(seconds=self.t), EPOCH + self.t)

    def reading(self, power_w=0.0, connected=True, health=UP, **kw):
        amps = power_w / 690.0
        fields = dict(at_s=self.t, car_connected=connected, charging=power_w > 0, power_w=power_w,
                      currents_a=(amps, amps, amps), limit_a=32, meter_wh=None)
        fields.update(kw)
        self.core.charger(ChargerReading(**fields), health)

    def push(self, pv_w, grid_w=None):
        self.core.measurement(Measurement(
            pv_w=pv_w, grid_w=grid_w, load_w=None, battery_w=None,
            kind="powerflow" if grid_w is not None else "inverter", inverter_time=None,
            source="powerflow.json", received_at=self.t))

    def tick(self, to_s=None) -> int:
        if to_s is not None:
            self.t = float(to_s)
        return self.core.tick(self.clocks())

    def command(self, **request):
        valid, error = validate(request)
        assert valid is not None, error
        return self.core.command(valid, self.clocks())


def test_pv_counts_while_fresh_and_the_allowance_alone_once_stale(caplog):
    rig = Rig(PolicySettings(ramp_up_interval_s=0))
    caplog.set_level(logging.INFO, "appliance")
    assert rig.tick() == 15
    rig.push(5600.0)
    assert rig.tick(1) == 24
    assert rig.tick(59) == 24       # pushed at 0 s: 59 s old, still counts
    assert rig.tick(60) == 15       # 60 s old: the limit
    text = caplog.text
    assert "No inverter data yet: allowance only, 15 A." in text
    assert "First inverter data arrived (powerflow.json): PV 5.6 kW." in text
    assert "PV 5.6 kW + allowance 11.0 kW -> 24 A (was 15 A)" in text
    assert "Inverter data is 60 s old (limit 60 s): allowance only, 15 A." in text


def test_a_raise_waits_for_the_ramp_interval_and_the_log_says_when():
    rig = Rig(PolicySettings(ramp_up_interval_s=30))
    rig.push(0.0)
    assert rig.tick() == 15
    rig.push(9000.0)
    assert rig.tick(10) == 15
    assert rig.core.status(rig.clocks()).reason.endswith("; raising to 28 A in 30 s")
    assert rig.tick(39) == 15
    rig.push(9000.0)
    assert rig.tick(40) == 28


def test_a_timed_pause_ends_by_itself():
    rig = Rig()
    assert rig.tick() == 15
    answer = rig.command(command="pause", minutes=10)
    assert answer["paused"] is True and answer["pause_until_epoch_s"] == EPOCH + 600
    assert rig.tick(1) == 0
    status = rig.core.status(rig.clocks())
    assert status.waiting_for == "paused" and status.pause_remaining_s == pytest.approx(599)
    assert rig.tick(599) == 0
    assert rig.tick(600) == 15
    assert not rig.core.state.paused


def test_button_commands_toggle_the_pause_and_step_the_mode():
    rig = Rig(button_pause_minutes=5)
    rig.tick()
    assert rig.command(command="toggle_pause")["pause_until_epoch_s"] == EPOCH + 300
    assert rig.tick(1) == 0
    assert rig.command(command="toggle_pause")["was_paused"] is True
    assert rig.command(command="next_mode")["mode"] == "pv"
    assert rig.command(command="next_mode")["mode"] == "minpv"
    assert validate({"command": "mode", "mode": "warp"}) == (None, "Unknown mode 'warp': use one of "
                                                             "fast, pv, minpv, off.")


def test_schedule_window_switches_the_mode_and_the_screen_names_its_start():
    window = ScheduleWindow(time(0, 30), time(4, 30), "fast")
    rig = Rig(default_mode="off", schedule=[window])
    rig.local0 = datetime(2026, 6, 21, 0, 29)
    assert rig.tick() == 0
    status = rig.core.status(rig.clocks())
    assert status.waiting_for == "schedule" and status.schedule_start == "00:30"
    assert rig.tick(60) == 15
    assert rig.core.status(rig.clocks()).mode_in_force == "fast"


@pytest.mark.parametrize("change, why", [
    ({"health": DOWN}, "link down"),
    ({"at_s": -20.0}, "20 s old"),
    ({"power_w": 4294967295.0}, "registers 1020-1021 = 0xFFFFFFFF"),
    ({"power_w": math.nan}, "NaN"),
    ({"limit_a": 65535}, "a limit of 65535 A"),
    ({"currents_a": (81.0, 0.0, 0.0)}, "81 A on a phase"),
])
def test_one_rule_for_a_usable_reading_serves_policy_screen_and_status(change, why):
    rig = Rig(PolicySettings(ramp_up_interval_s=0), default_mode="pv")
    rig.push(9000.0)
    rig.reading(**{"power_w": 3000.0, **change})
    assert usable_reading(rig.core.reading, rig.core.health, rig.t) is None, why
    # Not usable = not known: no car power counts as PV surplus, nothing is shown as fact.
    assert rig.tick() == 0
    status = rig.core.status(rig.clocks())
    assert status.reading is None
    assert status.as_dict()["car_w"] is None and status.as_dict()["car_connected"] is None
    snap = status.snapshot(version="t", ip_address=None)
    assert snap.car_connected is None and snap.car_power_w == 0.0


def test_a_plausible_fresh_reading_is_used():
    rig = Rig(PolicySettings(ramp_up_interval_s=0))
    rig.reading(power_w=6900.0)
    assert usable_reading(rig.core.reading, rig.core.health, rig.t) is rig.core.reading
    rig.tick()
    d = rig.core.status(rig.clocks()).as_dict()
    assert d["car_w"] == 6900.0 and d["car_connected"] is True and d["wallbox_connected"] is True


def test_wallbox_offline_after_5_s_without_an_answer_or_at_once_with_an_error():
    rig = Rig()
    rig.core.charger(None, ChargerHealth(connected=False, holding=False))
    rig.tick()
    assert rig.core.status(rig.clocks()).starting
    rig.tick(6)
    assert rig.core.status(rig.clocks()).wallbox_offline
    rig2 = Rig()
    rig2.core.charger(None, DOWN)
    rig2.tick()
    status = rig2.core.status(rig2.clocks())
    assert status.wallbox_offline and status.as_dict()["wallbox_error"] == DOWN.problem


def test_mode_and_pause_are_saved_and_come_back(tmp_path):
    rig = Rig(store=StateStore(tmp_path, "fast"))
    rig.command(command="mode", mode="pv")
    rig.command(command="pause", minutes=None)
    again = ApplianceCore(PolicySettings(), store=StateStore(tmp_path, "fast"))
    assert again.state.mode == "pv" and again.paused(EPOCH + 1e6)


def test_a_session_from_plug_in_to_unplug_in_stepped_time(tmp_path):
    csv_path = tmp_path / "sessions.csv"
    rig = Rig(PolicySettings(ramp_up_interval_s=0))
    rig.core.sessions = SessionTracker(csv_path, clock_wall=lambda: NOON)
    rig.push(5600.0, grid_w=-2000.0)
    for t in range(0, 3601, 10):     # an hour at 24 A, the meter counting
        rig.t = float(t)
        rig.reading(power_w=16560.0, meter_wh=10_000 + 16560 * t / 3600)
        if t % 30 == 0:
            rig.push(5600.0, grid_w=-2000.0)
        rig.tick()
    rig.t = 3610.0
    rig.reading(power_w=0.0, connected=False)
    rig.tick()
    (session,) = read_sessions(csv_path)
    assert session.energy_wh == pytest.approx(16560, abs=1)
    assert session.peak_current_a == pytest.approx(24, abs=0.1)
    assert 0 < session.pv_share <= 1


def battery_push(rig, *, pv_w, grid_w, battery_w, soc_pct):
    rig.core.measurement(Measurement(
        pv_w=pv_w, grid_w=grid_w, load_w=None, battery_w=battery_w, kind="powerflow",
        inverter_time=None, source="gen24.json", received_at=rig.t, soc_pct=soc_pct))


@pytest.mark.parametrize("soc_pct, surplus_w", [
    (80.0, 6900.0 + 100.0 + 2000.0),   # above the priority level: the car may take the charging power
    (30.0, 6900.0 + 100.0),            # below it: the battery keeps its 2 kW
    (None, 6900.0 + 100.0),            # not known: counts as below
])
def test_the_home_battery_keeps_its_charge_below_its_priority_level(soc_pct, surplus_w):
    from appliance.policy.battery import BatteryRules

    rig = Rig(PolicySettings(ramp_up_interval_s=0), default_mode="pv",
              battery=BatteryRules(priority_soc_pct=50))
    rig.reading(power_w=6900.0)
    battery_push(rig, pv_w=7000.0, grid_w=-100.0, battery_w=-2000.0, soc_pct=soc_pct)
    rig.tick()
    assert rig.core.decision.surplus_w == pytest.approx(surplus_w)


def test_battery_discharge_counts_as_pv_only_where_the_car_may_use_it():
    from appliance.policy.battery import BatteryRules

    for may, pv_counted in ((False, 1000.0), (True, 4000.0)):
        rig = Rig(PolicySettings(ramp_up_interval_s=0),
                  battery=BatteryRules(priority_soc_pct=50, car_may_discharge=may))
        battery_push(rig, pv_w=1000.0, grid_w=0.0, battery_w=3000.0, soc_pct=90.0)
        rig.tick()
        assert rig.core.decision.pv_counted_w == pv_counted
