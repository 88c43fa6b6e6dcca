"""The EMS driver tells the control loop when its reading or health changed (on_change)."""

from __future__ import annotations

import threading
import time

from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.chargers.vestel_ems.schedule import StatusSchedule
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
