"""Meter emulation (MeterCharger) against the simulated basic EVC04 over socat pseudo-terminals,
with a garbled LOG console: absurd values, cut lines, binary noise. The driver must run on, never
believe an implausible reading, and the box must never be granted more than the setpoint allows;
when PV falls (10 A -> 6 A) during the garbage, the box follows. (A silent LOG and a silent meter:
tests/test_vestel_meter_charger.py, test_log_silence_pauses_within_15_s and
test_a_silent_meter_makes_the_box_fault_and_the_reading_says_so.)"""

from __future__ import annotations

import random
import shutil
import threading
import time

import pytest

from appliance.chargers.vestel_meter import MeterCharger
from appliance.core import plausible
from appliance.sim.basic_wallbox import ScaledClock, SimulatedBasicWallbox, socat_pair
from waiting import wait_until

TIME_SCALE = 40.0
LIMIT_A = 16
NOISE = ["P1:\tV: 231000\tA: 99999999999999\tW: 4294967295\tWh: -5", "P2:\tV: \tA: \tW:",
         "S:C2 Auth:1 D:999 Cmax:65535 Ph:3 Relay:7", "lb current:4000000000", "\x00\x1b[2J\x7f\x08 garbage",
         "P3:\tV: nan\tA: inf\tW: 1e999\tWh: 1", "ev current: -40", "max_offered_current: 80000",
         "P1:\tV: 231000\tA: 98", "x" * 3000]


class GarblingModel:
    """Wraps the box model's LOG lines: every burst gets noise mixed in and some lines cut."""

    def __init__(self, lines, seed: int = 3):
        self.lines = lines
        self.rng = random.Random(seed)
        self.on = False

    def __call__(self) -> list[str]:
        lines = list(self.lines())
        if not self.on:
            return lines
        out = []
        for line in lines:
            if self.rng.random() < 0.3:
                line = line[: self.rng.randrange(len(line) + 1)]
            out.append(line)
            if self.rng.random() < 0.5:
                out.append(self.rng.choice(NOISE))
        return out


@pytest.fixture
def rig(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed: apt-get install socat")
    with socat_pair(tmp_path, "meter") as meter, socat_pair(tmp_path, "log") as log:
        clock = ScaledClock(TIME_SCALE)
        box = SimulatedBasicWallbox(meter[0], log[0], limit_a=LIMIT_A, seed=7, time_scale=TIME_SCALE,
                                    clock=clock)
        garble = GarblingModel(box.model.log_lines)
        box.model.log_lines = garble
        driver = MeterCharger(meter[1], parity="N", log_port=log[1], dip_limit_a=LIMIT_A, clock=clock,
                              time_scale=TIME_SCALE)
        driver.start()
        box.start()
        yield box, driver, garble
        box.stop()
        driver.stop()


def test_a_garbled_log_is_never_believed_and_the_box_follows_a_falling_setpoint(rig):
    box, driver, garble = rig
    driver.set_setpoint(10)
    assert wait_until(lambda: box.model.session and box.model.grant_a >= 6, timeout_s=6), \
        (box.model.session, box.model.grant_a, box.events[-3:])
    garble.on = True
    setpoint = 10
    end = time.monotonic() + 2.5
    lowered = False
    while time.monotonic() < end:
        reading = driver.reading()
        assert reading is None or plausible(reading), reading
        assert box.model.grant_a <= max(setpoint, 10), box.model.grant_a
        if not lowered and time.monotonic() > end - 1.8:
            driver.set_setpoint(6)  # PV fell
            setpoint, lowered = 6, True
        time.sleep(0.02)
    assert wait_until(lambda: box.model.grant_a <= 6, timeout_s=3), box.model.grant_a
    # The noise went on to the end (the box's LOG writer is alive) and the driver still answers.
    assert any(t.name == "basic-box-log" and t.is_alive() for t in threading.enumerate())
    assert driver.health() is not None
