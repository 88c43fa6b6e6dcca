"""Meter emulation against the simulated basic EVC04 over socat pseudo-terminal pairs.

Two pairs: the meter bus (the box polls, the driver's pymodbus server answers) and the LOG console.
The pseudo-terminals refuse even parity, so the tests use 8N1; the product default stays 8E1.
The box and the driver share one clock that runs TIME_SCALE times faster than the wall clock.
"""

from __future__ import annotations

import shutil
import time

import pytest

from appliance.chargers.base import Charger, PhaseSwitcher
from appliance.chargers.vestel_meter import MeterCharger
from appliance.chargers.vestel_meter.listen import listen_on_bus
from appliance.chargers.vestel_meter.charger import LOG_QUICK_S, LOG_SLOW_S
from appliance.chargers.vestel_meter.grant import evaluations_to_shed
from appliance.sim.basic_wallbox import EVALUATION_S, ScaledClock, SimulatedBasicWallbox, basic_box_on_ptys, socat_pair
from appliance.sim.wallbox import SimulatedWallbox
from waiting import wait_until

TIME_SCALE = 40.0
LIMIT_A = 16


@pytest.fixture
def ptys(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: these tests need pseudo-terminal pairs (apt-get install socat)")
    with socat_pair(tmp_path, "meter") as meter, socat_pair(tmp_path, "log") as log:
        yield {"meter_box": meter[0], "meter_app": meter[1], "log_box": log[0], "log_app": log[1]}


@pytest.fixture
def rig(ptys, request):
    # Tests whose bound is a few simulated seconds run slower (a test-parameter scale), so that a
    # busy machine's scheduling delays are not multiplied into those seconds.
    scale = getattr(request, "param", TIME_SCALE)
    clock = ScaledClock(scale)
    box = SimulatedBasicWallbox(ptys["meter_box"], ptys["log_box"], limit_a=LIMIT_A, seed=7,
                                time_scale=scale, clock=clock)
    driver = MeterCharger(ptys["meter_app"], parity="N", log_port=ptys["log_app"], dip_limit_a=LIMIT_A,
                          clock=clock, time_scale=scale)
    driver.start()
    box.start()
    yield box, driver, clock
    box.stop()
    driver.stop()


def run_for(clock, seconds: float) -> None:
    ends = clock() + seconds
    while clock() < ends:
        time.sleep(0.005)


def test_the_driver_is_a_charger_and_never_switches_phases():
    driver = MeterCharger("/dev/null")
    assert isinstance(driver, Charger) and not isinstance(driver, PhaseSwitcher)
    with pytest.raises(ValueError, match="one of 16, 20, 25, 32, 40, 63, 80"):
        MeterCharger("/dev/null", dip_limit_a=17)


class SteppedClock:
    def __init__(self):
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def fed_driver(lines: list[str]) -> tuple[MeterCharger, SteppedClock]:
    """A driver whose LOG reader got `lines` as one burst (no ports opened)."""
    clock = SteppedClock()
    driver = MeterCharger("/dev/null", dip_limit_a=LIMIT_A, clock=clock)
    driver.log_reader._assembler.start_burst()
    driver.log_reader.feed(("\n" + "\n".join(lines) + "\n").encode())
    return driver, clock


CHARGING = ["P1:\tV: 231000\tA: 9800\tW: 2264\tWh: 1500", "P2:\tV: 231000\tA: 9700\tW: 2240\tWh: 1500",
            "P3:\tV: 231000\tA: 9750\tW: 2252\tWh: 1500", "lb current:10",
            "S:C2 Auth:1 D:167 Cmax:10 Ph:3 Relay:7"]


def test_postures_pause_setpoint_0_undecided_and_stale_log_and_health_says_which():
    driver, clock = fed_driver(CHARGING)
    assert driver.reported_current_a() == LIMIT_A + 4 and "first decision" in driver.health().problem
    driver.set_setpoint(10)
    assert driver.reported_current_a() == LIMIT_A          # grant 10 = setpoint: hold
    driver.set_setpoint(0)
    assert driver.reported_current_a() == LIMIT_A + 4
    driver.set_setpoint(3)                                  # 1-5 A is never asked for
    assert driver.reported_current_a() == LIMIT_A + 4
    driver.set_setpoint(8)
    clock.now_s += 12.9
    assert driver.reported_current_a() == LIMIT_A + 2       # grant 10 over 8: shed 2 A
    clock.now_s += 0.2
    driver.meter.last_poll_at = clock.now_s                 # the box still polls
    assert driver.reported_current_a() == LIMIT_A + 4
    assert "No LOG lines from the wallbox for 13 s (limit 13 s)" in driver.health().problem


def test_the_log_is_read_every_second_while_the_grant_moves_and_every_3_s_while_it_holds():
    driver, clock = fed_driver(CHARGING)       # the box grants 10 A, the car draws 9.8 A
    assert driver.log_interval_s() == LOG_QUICK_S   # no decision yet: the LOG is wanted soon
    woken = driver.log_reader._hurry
    driver.set_setpoint(10)
    assert woken.is_set()                           # a new setpoint asks for a burst at once
    assert driver.log_interval_s() == LOG_SLOW_S    # grant = setpoint: the box holds
    woken.clear()
    driver.set_setpoint(10)
    assert not woken.is_set()                       # the same setpoint again: no extra burst
    driver.set_setpoint(8)
    assert driver.log_interval_s() == LOG_QUICK_S   # it is to shed: watch each evaluation
    driver.set_setpoint(13)
    assert driver.log_interval_s() == LOG_QUICK_S   # headroom is offered: never offer it twice
    driver.set_setpoint(0)
    assert driver.log_interval_s() == LOG_SLOW_S    # paused
    driver.set_setpoint(10)
    clock.now_s += LOG_SLOW_S + LOG_QUICK_S + 0.1
    assert driver.log_interval_s() == LOG_QUICK_S   # a burst went missing: look again every second


def test_reading_from_the_log_and_implausible_values_logged_once(caplog):
    driver, clock = fed_driver(CHARGING)
    reading = driver.reading()
    assert reading.car_connected and reading.charging and reading.offered_a == 10.0
    assert reading.currents_a == (9.8, 9.7, 9.75) and reading.power_w == 6756 and reading.phases_in_use == 3
    driver.log_reader.feed(b"P2:\tV: 231000\tA: 97000\tW: 2240\tWh: 1500\n")
    driver.set_setpoint(10)
    assert driver.reading() is None and driver.reading() is None
    assert driver.reported_current_a() == LIMIT_A + 4       # blind: pause
    warnings = [r.getMessage() for r in caplog.records if "P2 current = 97" in r.getMessage()]
    assert len([w for w in warnings if w.endswith("log_baudrate).")]) == 1          # the reading, once
    assert len([w for w in warnings if w.endswith("Charging is paused.")]) == 1     # the posture change
    assert "is over 80 A" in warnings[0] and driver.implausible_count == 2


def test_from_settings_takes_the_wallbox_keys():
    from appliance.config import DIP_LIMITS_A, parse_settings
    from appliance.chargers.vestel_meter import DIP_LIMITS_A as DRIVER_DIP_LIMITS_A

    settings = parse_settings({"fronius": {"ftp_password": "secret12"},
                               "wallbox": {"kind": "meter", "dip_limit_a": 20, "serial_port": "/dev/ttyUSB1",
                                           "log_port": "/dev/ttyS0", "parity": "N", "min_current_a": 7}})
    driver = MeterCharger.from_settings(settings)
    assert driver.dip_limit_a == 20 and driver.min_current_a == 7
    assert driver.identity().description == ("Vestel EVC04 (basic) by meter emulation: PRO380 on /dev/ttyUSB1 "
                                             "9600 8N1, LOG on /dev/ttyS0 9600 8N1, DIP limit 20 A")
    assert tuple(DIP_LIMITS_A) == DRIVER_DIP_LIMITS_A


def test_staircase_settles_within_one_amp_in_30_s_without_a_cut(rig):
    box, driver, clock = rig
    step_s, rows = 36.0, []
    for setpoint in (16, 12, 10, 8, 6, 8, 16):
        driver.set_setpoint(setpoint)
        started = clock()
        run_for(clock, step_s)
        step = [s for s in box.samples if s.at_s >= started]
        late = [s.grant_a for s in step if s.at_s >= started + 30.0]
        assert late and all(abs(g - setpoint) <= 1 for g in late), (setpoint, late)
        off = [s.at_s for s in step if abs(s.grant_a - setpoint) > 1]
        settled_s = (max(off) - started + 1.0) if off else 0.0
        exact_s = next((s.at_s - started for s in step if s.grant_a == setpoint), None)
        rows.append((started, setpoint, settled_s, exact_s, box.samples[-1].grant_a, driver.meter.last_reported_a))
    print("\n  time_s  setpoint_a  within_1_a_after_s  exact_after_s  grant_a  reported_a")
    for started, setpoint, settled_s, exact_s, grant_a, reported_a in rows:
        exact = "-" if exact_s is None else f"{exact_s:.0f}"
        print(f"  {started + step_s:6.0f}  {setpoint:10d}  {settled_s:18.0f}  {exact:>13}  {grant_a:7d}  {reported_a:10.2f}")
    assert [e for e in box.events if e.kind == "start"] and not [e for e in box.events if e.kind == "cut"]
    # The grant is over the setpoint for no longer than the evaluations it takes to shed (plus feedback).
    starts = [(r[0], r[1]) for r in rows]
    over_since = None
    for sample in box.samples:
        setpoint = [sp for at, sp in starts if at <= sample.at_s][-1] if sample.at_s >= starts[0][0] else 0
        if sample.grant_a > setpoint:
            if over_since is None:
                over_since, over_by = sample.at_s, sample.grant_a - setpoint
            assert sample.at_s - over_since <= evaluations_to_shed(over_by, setpoint) * EVALUATION_S[1] + 3.0, (sample, setpoint)
        else:
            over_since = None
    assert driver.health().holding and driver.health().problem is None
    reading = driver.reading()
    assert reading.car_connected and reading.charging and reading.offered_a == 16 - 1 <= reading.offered_a
    assert reading.limit_a == LIMIT_A and 13 < max(reading.currents_a) < 16 and reading.session_energy_wh > 0


def test_the_meter_answers_in_the_pause_posture_before_the_first_decision(rig):
    box, driver, clock = rig
    run_for(clock, 12.0)
    assert box.answers_received >= 5 and box.answers_received >= box.polls_sent - 1 and not box.model.fault
    assert driver.meter.last_reported_a == LIMIT_A + 4
    assert not box.model.session
    assert "first decision" in driver.health().problem


@pytest.mark.parametrize("rig", [20.0], indirect=True)
def test_a_stalled_control_loop_does_not_stop_the_meter(rig):
    box, driver, clock = rig
    driver.set_setpoint(10)
    run_for(clock, 3.0)
    answered, polled = box.answers_received, box.polls_sent
    with driver._lock:                     # the control side stalls for 20 s, even mid-call
        run_for(clock, 20.0)
    polls = box.polls_sent - polled
    assert polls >= 10 and box.answers_received - answered >= polls - 1
    assert not box.model.fault and box.model.session


@pytest.mark.parametrize("rig", [10.0], indirect=True)  # 1 s of margin in 15 s: 100 ms real
def test_log_silence_pauses_within_15_s(rig):
    box, driver, clock = rig
    driver.set_setpoint(16)
    assert wait_until(lambda: box.model.session and driver.health().holding, timeout_s=40 / clock.scale + 2)
    box.log_muted = True
    muted_at = clock()
    assert wait_until(lambda: driver.meter.last_reported_a == LIMIT_A + 4, timeout_s=20 / clock.scale + 2)
    assert wait_until(lambda: box.samples[-1].reported_a == LIMIT_A + 4, timeout_s=2)
    # When the box itself got the pause posture, on its own clock.
    paused_at = next(s.at_s for s in box.samples if s.at_s >= muted_at and s.reported_a == LIMIT_A + 4)
    paused_after_s = paused_at - muted_at
    print(f"\n  LOG silent: the box polls the pause posture after {paused_after_s:.1f} s (simulated)")
    assert paused_after_s <= 15.0, paused_after_s
    assert "No LOG lines" in driver.health().problem and not driver.health().holding
    assert wait_until(lambda: not box.model.session, timeout_s=EVALUATION_S[1] / clock.scale + 2)


def test_a_silent_meter_makes_the_box_fault_and_the_reading_says_so(rig):
    box, driver, clock = rig
    driver.set_setpoint(10)
    run_for(clock, 3.0)
    driver.meter.stop()
    assert wait_until(lambda: box.model.fault, timeout_s=10 / TIME_SCALE + 2)
    assert wait_until(lambda: driver.reading() is not None and driver.reading().fault is not None, timeout_s=2)
    assert "error 22" in driver.reading().fault


def test_the_wider_pro380_map_agrees_with_the_currents(ptys):
    from pymodbus.client import ModbusSerialClient

    from appliance.chargers.vestel_meter import pro380

    driver = MeterCharger(ptys["meter_app"], parity="N", log_port=ptys["log_app"], dip_limit_a=LIMIT_A)
    driver.start()
    client = ModbusSerialClient(ptys["meter_box"], baudrate=9600, parity="N", timeout=1, retries=0)
    try:
        assert client.connect()

        def floats(address, count):
            words = client.read_holding_registers(address, count=2 * count, device_id=1).registers
            return [pro380.words_float(words[i], words[i + 1]) for i in range(0, len(words), 2)]

        volts, currents = floats(pro380.VOLTAGE_L1, 3), floats(pro380.CURRENT_L1, 3)
        frequency, power_kw = floats(pro380.FREQUENCY, 1)[0], floats(pro380.POWER_TOTAL_KW, 1)[0]
        energy_kwh = floats(pro380.ENERGY_TOTAL_KWH, 1)[0]
        assert client.read_holding_registers(0x7000, count=2, device_id=1).isError()
    finally:
        client.close()
        driver.stop()
    assert currents == [LIMIT_A + 4.0] * 3          # no decision yet: the pause posture
    assert volts == [230.0] * 3 and frequency == 50.0 and energy_kwh == 0.0
    assert power_kw == pytest.approx(sum(v * i for v, i in zip(volts, currents)) / 1000, rel=1e-5)


def test_listen_hears_the_polls_of_a_basic_box(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    with basic_box_on_ptys(tmp_path, time_scale=TIME_SCALE) as (box, meter_port, _log_port):
        verdict = listen_on_bus(meter_port, parity="N", seconds=0.5)
    assert verdict.kind == "meter" and verdict.polls_heard >= 2
    assert verdict.sentence.startswith("PRO380 polls from a wallbox (Power Optimizer on): use meter emulation")


def test_listen_finds_an_ems_box_by_asking(ptys):
    sim = SimulatedWallbox()
    sim.serve_rtu(ptys["meter_box"], baudrate=9600, parity="N")
    try:
        verdict = listen_on_bus(ptys["meter_app"], parity="N", seconds=0.3)
    finally:
        sim.stop()
    assert verdict.kind == "ems" and verdict.sentence.startswith("EMS map answers: use kind ems")
    assert verdict.details["brand"] == "Vestel"


def test_listen_on_a_silent_bus_names_the_fixes(ptys):
    verdict = listen_on_bus(ptys["meter_app"], parity="N", seconds=0.2)
    assert verdict.kind is None
    assert "check A/B" in verdict.sentence and "DIP switches" in verdict.sentence and "baud" in verdict.sentence
