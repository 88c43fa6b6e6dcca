"""Switching the Vestel EMS box between one and three phases (registers 404/405), stepped in time."""

from __future__ import annotations

import pytest

from appliance.chargers.base import PhaseSwitcher
from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.chargers.vestel_ems.phases import firmware_at_least
from appliance.sim.wallbox import SimulatedWallbox
from ems_stepping import SteppedClock, run_link


@pytest.fixture
def rig(request):
    firmware = getattr(request, "param", "v3.187.0-sim")
    clock = SteppedClock()
    box = SimulatedWallbox(clock=clock, firmware=firmware)
    box.port = box.serve_tcp()
    events: list[str] = []
    charger = EmsCharger(VestelClient.tcp("127.0.0.1", box.port), failsafe_current_a=8, failsafe_timeout_s=20,
                         clock=clock, phase_switch_pause_s=60, on_event=events.append)
    yield box, clock, charger, events
    charger.stop()
    box.stop()


def run(charger, clock, seconds):
    run_link(charger.link, clock, seconds)


def test_firmware_versions():
    assert firmware_at_least("v3.187.0") and firmware_at_least("3.200.1-beta") and firmware_at_least("v4.1")
    assert not firmware_at_least("v3.186.9") and not firmware_at_least("unknown")


def test_a_switch_pauses_switches_waits_and_resumes_never_under_load(rig):
    box, clock, charger, events = rig
    box.plug_in(car_max_a=32)
    charger.set_setpoint(16)
    run(charger, clock, 30)
    assert isinstance(charger, PhaseSwitcher) and charger.can_switch_phases()
    assert box.current_a == 16 and box.active_phases == 3 and charger.reading().phases_in_use == 3

    charger.set_phases(1)
    started = clock()
    run(charger, clock, 10)
    assert box.setpoint_a == 0 and box.current_a == 0  # paused first
    assert charger.health().holding  # holding the pause the switch asked for; the heartbeat goes on
    run(charger, clock, 25)
    assert box.active_phases == 1 and box.setpoint_a == 0  # switched, still waiting
    run(charger, clock, 40)
    assert box.setpoint_a == 16 and box.current_a == 16 and box.power_w == 16 * 230
    assert box.violations == []  # 405 was never written while the car drew current
    order = [w for w in box.writes if w[0] in (405, 5004)]
    switch = order.index((405, 0))
    assert order[switch - 1] == (5004, 0) and order[-1] == (5004, 16), order
    assert all(v == 0 for a, v in order[switch:-1] if a == 5004), order  # no current until it settled
    switched_at = next(r.at_s for r in box.requests if r.address == 405 and r.function_code == 6)
    assert switched_at - started == pytest.approx(30, abs=1)  # half the 60 s pause before, half after
    run(charger, clock, 10)
    reading = charger.reading()
    assert reading.phases_in_use == 1 and reading.currents_a == (16.0, 0.0, 0.0)
    assert any("Switching to 1 phase" in e for e in events) and any("resumes on 1 phase" in e for e in events)


def test_405_is_written_again_after_every_reconnect(rig):
    box, clock, charger, events = rig
    box.plug_in(car_max_a=32)
    charger.set_setpoint(16)
    charger.set_phases(1)
    run(charger, clock, 120)
    assert box.active_phases == 1
    box.stop()
    run(charger, clock, 3)
    assert not charger.health().connected
    box.serve_tcp(port=box.port)  # a new connection: the box forgot 405 and charges on 3 phases again
    before = len(box.writes)
    run(charger, clock, 5)
    assert charger.link.reconnects == 1
    assert box.writes[before:before + 5] == [(2002, 20), (2000, 8), (405, 0), (5004, 16), (6000, 1)]
    assert box.active_phases == 1


def test_phases_set_before_the_box_answered_are_applied_with_the_pause(rig):
    box, clock, charger, events = rig
    box.plug_in(car_max_a=32)
    charger.set_phases(1)  # before the link knows whether the box can switch
    charger.set_setpoint(16)
    run(charger, clock, 90)
    assert box.active_phases == 1 and box.current_a == 16 and box.violations == []


@pytest.mark.parametrize("rig", ["v3.186.0"], indirect=True)
def test_older_firmware_cannot_switch_and_nothing_breaks(rig):
    box, clock, charger, events = rig
    box.plug_in(car_max_a=32)
    charger.set_setpoint(16)
    run(charger, clock, 30)
    assert not charger.can_switch_phases()
    charger.set_phases(1)
    run(charger, clock, 120)
    assert box.active_phases == 3 and box.current_a == 16 and charger.health().holding
    assert not any(a == 405 for a, _ in box.writes)
    assert charger.identity().firmware == "v3.186.0"


def test_a_box_that_refuses_the_switch_charges_on_as_it_is(rig):
    box, clock, charger, events = rig
    box.plug_in(car_max_a=32)
    charger.set_setpoint(16)
    run(charger, clock, 30)
    assert charger.can_switch_phases()
    box.refused_writes = {405: 4}
    charger.set_phases(1)
    run(charger, clock, 90)
    assert not charger.can_switch_phases() and box.active_phases == 3
    assert box.current_a == 16 and charger.health().holding and charger.link.reconnects == 0
    assert any("Phase switching is off" in e and "405" in e for e in events)
