"""The EMS driver (EmsCharger) and the simulated box with a fault-injecting Modbus proxy between
them: delayed, dropped, reset, corrupted and refused registers. In each case PV falls (27 A -> 6 A)
while the fault holds: within the failsafe time the box grants no more than 6 A or its failsafe
current (8 A, the current safe without PV) and keeps no more; when the fault clears, the driver
holds 6 A again. The box checks its heartbeat every second (failsafe timeout 2 s)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from appliance.core import plausible
from appliance.sim.wallbox import SimulatedWallbox
from modbus_proxy import FaultyModbusProxy
from waiting import wait_until

FAST = StatusSchedule().scaled(0.04)
FAILSAFE_A = 8
STATUS = range(1000, 1012)

CASES = {
    "setpoint refused": {5004: "refuse"},
    "setpoint answer dropped": {5004: "drop"},
    "reset on the setpoint": {5004: "reset"},
    "heartbeat refused": {6000: "refuse"},
    "heartbeat answers late": {6000: "delay"},
    "status answers corrupted": {r: "corrupt" for r in STATUS},
    "status answers dropped": {r: "drop" for r in STATUS},
}


def run_case(name: str) -> None:
    box = SimulatedWallbox(alive_check_min_s=1.0)
    port = box.serve_tcp()
    box.plug_in(car_max_a=32)
    proxy = FaultyModbusProxy(port, delay_s=0.4)
    charger = EmsCharger(VestelClient.tcp("127.0.0.1", proxy.port, timeout_s=0.3), schedule=FAST,
                         failsafe_current_a=FAILSAFE_A, failsafe_timeout_s=2)
    try:
        charger.start()
        charger.set_setpoint(27)
        assert wait_until(lambda: box.granted_a == 27 and charger.health().holding, timeout_s=3)
        proxy.faults = dict(CASES[name])
        charger.set_setpoint(6)  # PV fell to nothing
        assert wait_until(lambda: box.granted_a <= FAILSAFE_A, timeout_s=3), \
            f"{name}: the box kept {box.granted_a} A"
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # and none is kept there
            assert box.granted_a <= FAILSAFE_A, f"{name}: the box went back to {box.granted_a} A"
            reading = charger.reading()
            assert reading is None or plausible(reading)
            time.sleep(0.05)
        assert sum(proxy.seen.values()) > 0, "the fault never applied"
        proxy.faults = {}
        assert wait_until(lambda: charger.health().holding and box.setpoint_a == 6
                          and not box.in_failsafe, timeout_s=5), f"{name}: no recovery"
        assert box.violations == []
    finally:
        charger.stop()
        proxy.close()
        box.stop()


def test_pv_falls_during_each_fault_and_no_unsafe_current_is_kept():
    # The cases wait on real time (the box's once-a-second check): side by side, each with its
    # own box, proxy and driver, they take as long as the slowest one.
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {name: pool.submit(run_case, name) for name in CASES}
    failed = {name: repr(f.exception()) for name, f in futures.items() if f.exception() is not None}
    assert failed == {}
