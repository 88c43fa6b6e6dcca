"""The EMS link under faults a house produces: each test failed on the link before it had one thread.

Real sockets and the link's own thread; the box's watchdog checks every second (failsafe timeout
2 s) instead of every 10 s, so what took a minute in the field takes a few seconds here.
"""

from __future__ import annotations

import logging
import time

import pytest

from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from appliance.sim.wallbox import SimulatedWallbox
from modbus_proxy import FaultyModbusProxy
from waiting import wait_until

FAST = StatusSchedule().scaled(0.04)  # the car's state every 0.2 s while it charges


@pytest.fixture
def box():
    sim = SimulatedWallbox(alive_check_min_s=1.0)
    sim.port = sim.serve_tcp()
    yield sim
    sim.stop()


@pytest.fixture
def made():
    links: list = []
    yield links
    for link in links:
        link.stop()


def start_link(made, port, *, events=None, timeout_s=1.0, **kwargs) -> EmsCharger:
    """The driver as the core sees it (start, set_setpoint, health, reading), over real sockets."""
    kwargs.setdefault("failsafe_current_a", 8)
    kwargs.setdefault("failsafe_timeout_s", 2)  # heartbeat every 0.5 s; the box checks every 1 s
    client = VestelClient.tcp("127.0.0.1", port, timeout_s=timeout_s)
    charger = EmsCharger(client, schedule=FAST, on_event=events.append if events is not None else None, **kwargs)
    made.append(charger)
    charger.start()
    return charger


# --- defect 1: a refused setpoint kept alive by the heartbeat -----------------------------------------


def test_a_refused_setpoint_stops_the_heartbeat_so_the_box_falls_back(box, made):
    box.plug_in(car_max_a=32)
    events: list[str] = []
    charger = start_link(made, box.port, events=events)
    charger.set_setpoint(27)  # PV at 8 kW
    assert wait_until(lambda: box.current_a == 27 and charger.health().holding, timeout_s=3)

    box.refused_writes = {5004: 3}  # ILLEGAL VALUE to every setpoint; 6000 and 2000 still accepted
    charger.set_setpoint(0)  # PV fell to 0
    refused_at = time.monotonic()
    assert wait_until(lambda: charger.health().problem is not None, timeout_s=1)
    health = charger.health()
    assert not health.holding
    assert health.connected
    assert "5004" in health.problem and "exception 3" in health.problem and "failsafe current of 8 A" in health.problem
    # The box checks every second: within the failsafe timeout it drops to its failsafe current.
    assert wait_until(lambda: box.in_failsafe, timeout_s=2.5), "the box kept the old current"
    assert box.current_a == 8 and time.monotonic() - refused_at < 2.5
    alive_before = box.alive_writes
    time.sleep(0.6)
    assert box.alive_writes == alive_before  # no heartbeat for a current the link cannot confirm

    box.refused_writes = {}  # the box takes setpoints again
    assert wait_until(lambda: charger.health().holding, timeout_s=2)
    assert box.setpoint_a == 0 and box.current_a == 0 and not box.in_failsafe
    assert wait_until(lambda: box.alive_writes > alive_before, timeout_s=1)
    assert sum("refused" in e for e in events) == 1 and any("accepted the setpoint 0 A again" in e for e in events)


# --- defect 2: a slow wallbox ----------------------------------------------------------------------------


def watch(charger, box, seconds: float) -> tuple[list[bool], list[str], int]:
    """Sample the box and the link's health; a violation is "holding" while the box is at failsafe."""
    holding, violations, at_failsafe = [], [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        before = box.in_failsafe
        health = charger.health()
        after = box.in_failsafe
        holding.append(health.holding)
        at_failsafe += before and after
        if before and after and health.holding:
            violations.append(f"health says holding {health.setpoint_a} A while the box is at its failsafe current")
        time.sleep(0.02)
    return holding, violations, at_failsafe


def test_a_slow_box_still_gets_its_heartbeat_and_the_control_loop_never_waits(box, made):
    # Every answer 0.15 s late, under the 0.3 s timeout: the field's 1.5 s against 2 s, on a box
    # that checks every 1 s instead of 10 s.
    box.plug_in(car_max_a=32)
    with FaultyModbusProxy(box.port, delay_s=0.15, every="delay") as proxy:
        charger = start_link(made, proxy.port, timeout_s=0.3)
        charger.set_setpoint(16)
        assert wait_until(lambda: charger.health().holding, timeout_s=3)
        calls: list[float] = []
        to_box: list[float] = []
        violations: list[str] = []
        for current_a in (20, 12, 16):
            started = time.monotonic()
            charger.set_setpoint(current_a)
            calls.append(time.monotonic() - started)
            violations += watch(charger, box, 0.6)[1]
            written = [r.at_s for r in box.requests
                       if r.address == 5004 and r.values == (current_a,) and r.at_s > started]
            to_box.append(written[0] - started)
        assert max(calls) < 0.05, f"set_setpoint waited for the box: {calls}"
        # At most one request (0.15 s) was in the way of each setpoint; two would take 0.3 s.
        assert max(to_box) < 0.3, f"setpoints reached the box after {to_box}"
        # 16 status requests of 0.15 s each, between heartbeats and setpoints
        assert wait_until(lambda: charger.reading() is not None, timeout_s=5)
        holding, more, at_failsafe = watch(charger, box, 1.0)
        assert violations + more == [] and at_failsafe == 0
        assert not box.in_failsafe and box.setpoint_a == 16 and all(holding)
        alive = [r.at_s for r in box.requests if r.function_code == 6 and r.address == 6000]
        gaps = [b - a for a, b in zip(alive, alive[1:])]
        assert max(gaps) < 1.0, f"the heartbeat left a check of the box without a write: {gaps}"
        # Status reads go on between the writes: the car's 16 A shows up.
        assert wait_until(lambda: charger.reading().currents_a[0] == 16.0, timeout_s=3)


def test_a_box_too_slow_for_its_heartbeat_is_not_reported_as_holding(box, made):
    # 0.45 s an answer: a status read and a setpoint can push the heartbeat past the box's check.
    box.plug_in(car_max_a=32)
    with FaultyModbusProxy(box.port, delay_s=0.45, every="delay") as proxy:
        charger = start_link(made, proxy.port, timeout_s=0.6)
        charger.set_setpoint(16)
        assert wait_until(lambda: charger.link.connected, timeout_s=5)
        seen_failsafe = 0
        for current_a in (20, 12, 16, 20):
            charger.set_setpoint(current_a)
            holding, violations, at_failsafe = watch(charger, box, 0.8)
            assert violations == []
            seen_failsafe += at_failsafe
        assert seen_failsafe > 0, "the box never fell back: this test shows nothing"


# --- defect 3: implausible readings ----------------------------------------------------------------------


def test_implausible_readings_are_not_used_logged_once_and_counted(box, made, caplog):
    caplog.set_level(logging.INFO, logger="appliance.vestel")
    box.plug_in(car_max_a=32)
    events: list[str] = []
    charger = start_link(made, box.port, events=events, failsafe_timeout_s=20)
    charger.set_setpoint(16)
    assert wait_until(lambda: charger.reading() is not None and charger.reading().power_w == 16 * 690, timeout_s=3)

    box.forced_words = {1020: 0xFFFF, 1021: 0xFFFF}  # 4294967295 W
    assert wait_until(lambda: charger.reading() is None, timeout_s=1), "a power of 4 GW was believed"
    assert "1020-1021" in charger.health().problem and "4294967295 W" in charger.health().problem
    box.forced_words = {1020: 0xFFFF, 1021: 0xFFFF, 1104: 0xFFFF, 1004: 999, 2000: 0xFFFF}
    time.sleep(1.5)  # several reads of every group
    assert charger.reading() is None
    assert charger.health().holding  # the box still holds the setpoint; only its reading is unusable
    warnings = [r.getMessage() for r in caplog.records if "reading not used" in r.getMessage()]
    assert len(warnings) == 4, warnings  # once each: power, EVSE maximum, cable state, failsafe current
    assert any("cable state 999 (register 1004) is outside its table" in w for w in warnings)
    assert any("65535 A (register 1104)" in w for w in warnings)
    assert not any("restarted?" in e for e in events)  # 65535 in 2000 is implausible, not a lost failsafe
    assert [v for a, v in box.writes if a == 2000] == [8]
    assert charger.link.status_keeper.implausible_readings >= 5

    box.forced_words = {}
    assert wait_until(lambda: charger.reading() is not None, timeout_s=2)
    assert charger.reading().power_w == 16 * 690 and charger.reading().limit_a == 32
    assert any("plausible again" in e for e in events)


# --- the reconnect after the box restarts ---------------------------------------------------------------


def test_a_restarted_box_is_reconnected_within_3_s(box, made):
    box.plug_in(car_max_a=32)
    charger = start_link(made, box.port, failsafe_timeout_s=20)
    charger.set_setpoint(16)
    assert wait_until(lambda: charger.health().holding, timeout_s=3)
    box.stop()
    assert wait_until(lambda: not charger.link.connected, timeout_s=2)
    time.sleep(3.2)  # the box restarts
    box.serve_tcp(port=box.port)
    back_at = time.monotonic()
    assert wait_until(lambda: charger.link.reconnects == 1, timeout_s=6)
    took_s = time.monotonic() - back_at
    assert took_s <= 3.0, f"reconnected {took_s:.2f} s after the box was back"
    assert wait_until(lambda: charger.health().holding and box.setpoint_a == 16, timeout_s=1)
