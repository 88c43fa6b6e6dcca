"""Both Vestel drivers tell the control loop when their reading or health changed (on_change): the
EMS driver after a link turn, the basic box's driver after a LOG burst."""

from __future__ import annotations

import threading
import time

from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from appliance.chargers.vestel_meter import MeterCharger
from appliance.chargers.vestel_meter.charger import LOG_SLOW_S
from appliance.sim.basic_wallbox import ScaledClock, basic_box_on_ptys
from appliance.sim.wallbox import SimulatedWallbox

FAST = StatusSchedule().scaled(0.04)


def _wait(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_a_car_plugged_in_is_told_at_once_and_a_quiet_box_is_not_told_again_and_again():
    box = SimulatedWallbox()
    port = box.serve_tcp()
    charger = EmsCharger(VestelClient.tcp("127.0.0.1", port, timeout_s=1.0), schedule=FAST,
                         failsafe_current_a=8, failsafe_timeout_s=4)
    told = threading.Semaphore(0)  # heartbeat every 1 s (timeout / 4)
    calls: list[float] = []

    def changed():
        calls.append(time.monotonic())
        told.release()

    charger.on_change(changed)
    charger.start()
    try:
        charger.set_setpoint(16)
        assert _wait(lambda: charger.health().holding)
        assert told.acquire(timeout=5.0)          # connected, then holding, then a first reading
        time.sleep(0.5)                             # the box settles: no car, nothing changes
        quiet_from = len(calls)
        time.sleep(1.0)                             # a dozen status reads at the test's fast schedule
        assert len(calls) == quiet_from, "told again although nothing changed"
        box.plug_in()
        assert _wait(lambda: len(calls) > quiet_from)
        assert _wait(lambda: (r := charger.reading()) is not None and r.car_connected)
    finally:
        charger.stop()
        box.stop()


def test_a_broken_listener_does_not_stop_the_heartbeat():
    box = SimulatedWallbox()
    port = box.serve_tcp()
    charger = EmsCharger(VestelClient.tcp("127.0.0.1", port, timeout_s=1.0), schedule=FAST,
                         failsafe_current_a=8, failsafe_timeout_s=4)

    def broken():
        raise RuntimeError("listener bug")

    charger.on_change(broken)
    charger.start()
    try:
        charger.set_setpoint(10)
        assert _wait(lambda: charger.health().holding)
        written = charger.link.heartbeats_written
        assert _wait(lambda: charger.link.heartbeats_written > written, timeout_s=10.0)
    finally:
        charger.stop()
        box.stop()


def test_a_basic_box_tells_a_plug_in_after_the_next_log_burst_and_a_quiet_box_nothing(tmp_path):
    """The simulated basic box over socat pseudo-terminal pairs at 10x its real speed, no car yet."""
    scale = 10.0
    clock = ScaledClock(scale)
    with basic_box_on_ptys(tmp_path, limit_a=16, seed=7, time_scale=scale, clock=clock) as (box, meter, log):
        box.unplug()
        driver = MeterCharger(meter, parity="N", log_port=log, dip_limit_a=16, clock=clock, time_scale=scale)
        calls: list[float] = []
        driver.on_change(lambda: calls.append(clock()))
        driver.start()
        try:
            driver.set_setpoint(10)
            assert _wait(lambda: driver.health().holding and driver.reading() is not None)
            time.sleep(0.5)                           # 5 simulated seconds: the box settles
            quiet_from = len(calls)
            time.sleep(1.0)                           # 10 simulated seconds, three or more bursts
            assert len(calls) == quiet_from, "told again although nothing changed"
            plugged_at = clock()
            box.plug_in()
            assert _wait(lambda: len(calls) > quiet_from)
            assert driver.reading().car_connected
            assert calls[quiet_from] - plugged_at <= LOG_SLOW_S + 1.0   # the next burst, simulated s
        finally:
            driver.stop()
