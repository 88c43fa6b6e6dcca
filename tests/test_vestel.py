"""The wallbox driver and link against the simulated wallbox over Modbus TCP loopback."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.chargers.vestel_ems import registers as vestel
from appliance.sim.wallbox import SimulatedWallbox
from appliance.chargers.vestel_ems import VestelClient, WallboxError, WallboxLink, WallboxStatus
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from ems_stepping import SteppedClock, run_link
from waiting import wait_until

# Over real sockets the status schedule runs 25 times faster: state every 0.2 s while charging.
FAST = StatusSchedule().scaled(0.04)


@pytest.fixture
def sim():
    box = SimulatedWallbox()
    box.port = box.serve_tcp()
    yield box
    box.stop()


@pytest.fixture
def stepped():
    """A simulated box and links on one clock that the test moves (see ems_stepping)."""
    clock = SteppedClock()
    box = SimulatedWallbox(clock=clock)
    box.port = box.serve_tcp()
    made: list[WallboxLink] = []

    def make(*, events: list[str] | None = None, port: int | None = None, **kwargs) -> WallboxLink:
        kwargs.setdefault("failsafe_current_a", 8)
        kwargs.setdefault("failsafe_timeout_s", 20)
        client = VestelClient.tcp("127.0.0.1", box.port if port is None else port, timeout_s=1.0)
        link = WallboxLink(client, clock=clock, on_event=events.append if events is not None else None, **kwargs)
        made.append(link)
        return link

    yield box, clock, make
    for link in made:
        link.stop()
    box.stop()


@pytest.fixture
def links():
    """Links made by a test; all stopped at its end, even when it fails."""
    made: list[WallboxLink] = []

    def make(port: int, *, events: list[str] | None = None, **kwargs) -> WallboxLink:
        kwargs.setdefault("failsafe_current_a", 8)
        kwargs.setdefault("failsafe_timeout_s", 20)
        kwargs.setdefault("schedule", FAST)
        client = VestelClient.tcp("127.0.0.1", port, timeout_s=kwargs.pop("timeout_s", 1.0))
        link = WallboxLink(client, on_event=events.append if events is not None else None, **kwargs)
        made.append(link)
        return link

    yield make
    for link in made:
        link.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- register map and read plan ---------------------------------------------------------------


def test_register_map_has_no_overlaps_and_every_entry_says_why():
    for kind in (vestel.INPUT, vestel.HOLDING):
        regs = sorted((r for r in vestel.REGISTER_MAP if r.kind == kind), key=lambda r: r.address)
        for a, b in zip(regs, regs[1:]):
            assert a.end <= b.address, f"{a.name} overlaps {b.name}"
    assert all(reg.why for reg in vestel.REGISTER_MAP)
    assert {1003, 1005, 1009} & vestel.listed_addresses(vestel.INPUT) == set()


@given(st.sets(st.sampled_from(vestel.REGISTER_MAP)), st.integers(min_value=2, max_value=125))
def test_any_read_plan_is_gap_free_and_covers_exactly_what_was_asked(registers, max_count):
    plan = vestel.plan_reads(registers, max_count=max_count)
    covered = set()
    for run in plan:
        assert 1 <= run.count <= max(max_count, max(r.count for r in run.registers))
        assert vestel.unlisted_in(run.kind, run.address, run.count) == []
        assert run.registers[0].address == run.address
        assert run.registers[-1].end == run.address + run.count
        covered.update(run.registers)
    assert covered == set(registers)


def test_status_plan_is_derived_from_the_map():
    status_regs = {reg for run in vestel.STATUS_PLAN for reg in run.registers}
    assert {r.name for r in status_regs} == set(vestel.STATUS_REGISTERS)
    # Contiguous listed registers share a request: fault code (1006-1007) and L1 current (1008).
    assert any(run.address == 1006 and run.count == 3 for run in vestel.STATUS_PLAN)


# --- client ----------------------------------------------------------------------------------------


def test_identity_and_status_are_read_without_spanning_unlisted_addresses(sim):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    assert client.describe() == f"Modbus TCP 127.0.0.1:{sim.port} unit 255"
    assert client.connect()
    try:
        client.write_failsafe(10, 20)
        client.write_setpoint(16)
        sim.plug_in(car_max_a=32)
        identity = client.read_identity()
        status = client.read_status()
    finally:
        client.close()
    assert identity.brand == "Vestel"
    assert identity.serial == "SIM2024000001"
    assert identity.phases == 3
    assert identity.max_power_w == 32 * 230 * 3
    assert status.car_connected and status.cable_state == 3
    assert status.charging and status.chargepoint_state == 2
    assert status.currents_a == (16.0, 16.0, 16.0)
    assert status.power_w == 16 * 230 * 3
    assert status.meter_wh == int(sim.meter_wh // 100) * 100
    assert (status.failsafe_current_a, status.failsafe_timeout_s, status.setpoint_a) == (10, 20, 16)
    assert status.evse_min_a == 6
    assert status.limit_a == 32
    reads = [r for r in sim.requests if r.function_code in (3, 4)]
    assert len(reads) == len(vestel.IDENTITY_PLAN) + len(vestel.STATUS_PLAN)
    assert all(r.unlisted == () for r in sim.requests), [r for r in sim.requests if r.unlisted]
    assert {r.function_code for r in sim.requests} <= {3, 4, 6}


def test_limit_is_the_smallest_reported_maximum():
    base = dict(
        chargepoint_state=0, charging=False, equipment_state=1, cable_state=0, fault_code=0,
        currents_a=(0.0, 0.0, 0.0), power_w=0, meter_wh=0, evse_min_a=6, session_energy_wh=0,
        box_time_hhmmss=0, failsafe_current_a=6, failsafe_timeout_s=20, setpoint_a=0,
    )  # fmt: skip
    assert WallboxStatus(session_max_a=32, evse_max_a=16, cable_max_a=20, **base).limit_a == 16
    assert WallboxStatus(session_max_a=0, evse_max_a=32, cable_max_a=0, **base).limit_a == 32
    assert WallboxStatus(session_max_a=0, evse_max_a=0, cable_max_a=0, **base).limit_a is None
    assert not WallboxStatus(session_max_a=0, evse_max_a=0, cable_max_a=0, **base).car_connected


def test_exception_answer_raises_a_readable_error(sim):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    client.connect()
    try:
        with pytest.raises(WallboxError) as err:
            client.read_run(vestel.ReadRun(vestel.INPUT, 1000, 5, ()))
    finally:
        client.close()
    message = str(err.value)
    assert "1000-1004" in message and "ILLEGAL ADDRESS" in message and f"127.0.0.1:{sim.port}" in message


@pytest.mark.parametrize("current_a", [1, 3, 5, -1, 64])
def test_setpoints_of_one_to_five_amps_are_refused_before_anything_is_sent(sim, current_a):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    client.connect()
    try:
        with pytest.raises(ValueError, match="not allowed"):
            client.write_setpoint(current_a)
        with pytest.raises(ValueError):
            client.write_failsafe(current_a, 20)
    finally:
        client.close()
    assert sim.writes == []


# --- link ------------------------------------------------------------------------------------------


def test_failsafe_registers_are_written_before_any_other_request(sim, links):
    link = links(sim.port, failsafe_current_a=10, failsafe_timeout_s=12)
    link.set_setpoint(16)  # remembered before the connection exists
    link.start()
    assert wait_until(lambda: link.status is not None, timeout_s=5)
    first = sim.requests[:4]
    assert [(r.function_code, r.address, r.values) for r in first] == [
        (6, 2002, (12,)), (6, 2000, (10,)), (6, 5004, (16,)), (6, 6000, (1,))]
    assert link.connected and link.last_error is None
    assert link.identity is not None and link.identity.brand == "Vestel"
    assert link.status.failsafe_current_a == 10 and link.status.setpoint_a == 16
    assert link.status_age_s is not None and link.status_age_s < 5
    assert link.health().holding and link.health().setpoint_a == 16
    assert all(r.unlisted == () for r in sim.requests)


def test_no_heartbeat_before_the_appliance_has_a_setpoint(stepped):
    box, clock, make = stepped
    link = make()
    run_link(link, clock, 30)
    assert link.connected and link.status is not None
    assert box.alive_writes == 0  # nothing to keep alive: the box may fall back to its failsafe
    assert not link.health().holding
    link.set_setpoint(16)
    link.step()
    assert box.writes[-2:] == [(5004, 16), (6000, 1)]
    assert link.health().holding


def test_heartbeat_every_quarter_of_the_failsafe_timeout(stepped):
    box, clock, make = stepped
    link = make(failsafe_timeout_s=20)  # heartbeat every 5 s; the box checks every 10 s
    link.set_setpoint(16)
    run_link(link, clock, 120)
    times = [r.at_s for r in box.requests if r.function_code == 6 and r.address == 6000]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 24 or len(times) == 25, times
    assert max(gaps) <= 5.0 + 1e-6 and min(gaps) >= 5.0 - 1e-6
    assert link.heartbeats_written == box.alive_writes
    assert not box.in_failsafe


def test_setpoint_is_written_first_in_the_next_turn_and_refreshed_when_unchanged(stepped):
    box, clock, make = stepped
    link = make(setpoint_refresh_s=60.0)
    link.set_setpoint(0)
    run_link(link, clock, 3)  # connected, reading status
    setpoint_writes = lambda: [v for a, v in box.writes if a == 5004]  # noqa: E731
    assert link.set_setpoint(16) is True
    before = len(box.requests)
    link.step()
    assert (box.requests[before].address, box.requests[before].values) == (5004, (16,))
    assert link.set_setpoint(16) is True
    run_link(link, clock, 30)
    assert setpoint_writes() == [0, 16]
    assert link.set_setpoint(20) is True
    run_link(link, clock, 61)
    assert setpoint_writes() == [0, 16, 20, 20]  # refreshed once a minute
    # Refused values change nothing and do not raise.
    assert link.set_setpoint(3) is False
    run_link(link, clock, 1)
    assert box.setpoint_a == 20 and box.violations == []


def test_car_draws_the_setpoint_and_zero_pauses(sim, links):
    sim.energy_time_scale = 3600.0
    sim.plug_in(car_max_a=32)
    link = links(sim.port)
    link.start()
    assert wait_until(lambda: link.connected, timeout_s=5)
    assert link.set_setpoint(16)
    assert wait_until(lambda: link.status is not None and link.status.currents_a[0] == 16.0, timeout_s=3)
    energy_before_wh = link.status.session_energy_wh
    assert wait_until(lambda: link.status.session_energy_wh > energy_before_wh + 1000, timeout_s=4)
    assert link.set_setpoint(0)
    assert wait_until(lambda: sim.current_a == 0, timeout_s=2)
    assert wait_until(lambda: link.status.chargepoint_state == 3 and not link.status.charging, timeout_s=3)


def test_setpoint_is_written_again_when_a_car_arrives(stepped):
    box, clock, make = stepped
    box.plug_in()
    events: list[str] = []
    link = make(events=events)
    link.set_setpoint(0)
    run_link(link, clock, 10)
    box.unplug()
    assert box.setpoint_a == 6  # the box's quirk: 0 reads back as 6 after an unplug
    run_link(link, clock, 20)
    assert not link.status.car_connected
    assert link.health().holding  # the quirk is not a refused setpoint
    box.plug_in()
    run_link(link, clock, 10)
    assert box.setpoint_a == 0 and box.current_a == 0
    assert any("Car connected" in e for e in events)


def test_failsafe_takes_over_when_the_appliance_stops_and_stays_until_setpoint_is_written(stepped):
    box, clock, make = stepped
    box.plug_in(car_max_a=32)
    link = make(failsafe_current_a=8, failsafe_timeout_s=20)
    link.set_setpoint(16)
    run_link(link, clock, 30)
    assert box.current_a == 16
    link.stop()  # the appliance stops talking
    clock.now_s += 19
    assert not box.in_failsafe  # checks every 10 s; the last heartbeat counted for one of them
    clock.now_s += 2
    assert box.in_failsafe and box.current_a == 8

    # A new link (the service restarted) ends the sticky failsafe by writing 5004 again.
    relink = make(failsafe_current_a=8, failsafe_timeout_s=20)
    relink.set_setpoint(16)
    run_link(relink, clock, 1)
    assert not box.in_failsafe and box.current_a == 16


def test_reconnects_and_writes_failsafe_then_setpoint_again(sim, links):
    events: list[str] = []
    link = links(sim.port, events=events, failsafe_current_a=8, failsafe_timeout_s=8)
    link.set_setpoint(16)
    link.start()
    assert wait_until(lambda: link.health().holding, timeout_s=5)
    sim.stop()
    assert wait_until(lambda: not link.connected, timeout_s=3)
    assert link.last_error and f"127.0.0.1:{sim.port}" in link.last_error
    assert not link.health().holding and not link.health().connected
    assert link.set_setpoint(20) is True  # taken, written after the reconnect
    writes_before = len(sim.writes)
    assert sim.serve_tcp(port=sim.port) == sim.port
    assert wait_until(lambda: link.reconnects == 1, timeout_s=4)
    assert link.connected and link.last_error is None
    after = sim.writes[writes_before:]
    assert after[:4] == [(2002, 8), (2000, 8), (5004, 20), (6000, 1)]
    assert sim.setpoint_a == 20
    assert any("stopped answering" in e for e in events)
    assert any(e.startswith("Wallbox answered again after") and "setpoint 20 A written again" in e for e in events)


def test_retries_every_second_at_first_and_more_rarely_the_longer_the_box_stays_away(stepped):
    box, clock, make = stepped
    link = make(port=free_port())  # nobody listens here
    attempts: list[float] = []
    original_connect = link.client.connect

    def counting_connect():
        attempts.append(clock())
        return original_connect()

    link.client.connect = counting_connect
    run_link(link, clock, 600)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps[:10] == pytest.approx([1.0] * 10, abs=0.01)
    assert max(gaps) == pytest.approx(30.0, abs=0.01)
    assert all(b >= a - 0.01 for a, b in zip(gaps, gaps[1:]))  # never faster again while away
    assert 30 <= len(attempts) <= 60


def test_wallbox_not_answering_at_all(links):
    port = free_port()
    events: list[str] = []
    link = links(port, events=events)
    link.start()
    assert wait_until(lambda: link.last_error is not None, timeout_s=3)
    assert not link.connected
    assert f"127.0.0.1:{port}" in link.last_error and "check" in link.last_error
    assert link.set_setpoint(16) is True and link.set_setpoint(0) is True
    health = link.health()
    assert not health.connected and not health.holding and f"127.0.0.1:{port}" in health.problem
    assert link.status is None and link.status_age_s is None
    assert events and "Retrying" in events[0]


def test_wallbox_accepting_connections_but_silent(links):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        link = links(listener.getsockname()[1], timeout_s=0.3)
        link.start()
        assert wait_until(lambda: link.last_error is not None, timeout_s=3)
        assert "did not answer writing 20 to register 2002" in link.last_error
        assert not link.connected and not link.health().holding
    finally:
        stop.set()
        thread.join(2)
        for s in accepted:
            s.close()
        listener.close()


def test_set_setpoint_never_raises_when_the_box_vanishes(sim, links):
    link = links(sim.port)
    link.start()
    assert wait_until(lambda: link.connected, timeout_s=5)
    sim.stop()
    results = [link.set_setpoint(a) for a in (16, 17, 0, 2, 32)]
    assert results == [True, True, True, False, True]
    assert wait_until(lambda: not link.connected, timeout_s=3)
    assert not link.health().holding


def test_frozen_answers_make_the_link_reconnect(stepped):
    box, clock, make = stepped
    link = make()
    link.set_setpoint(16)
    run_link(link, clock, 10)
    assert link.connected and box.connections == 1
    box.freeze_answers()
    run_link(link, clock, 60)
    assert link.reconnects == 1
    assert box.connections == 2


def test_failsafe_registers_lost_by_the_box_are_written_again(stepped):
    from pymodbus.client import ModbusTcpClient

    box, clock, make = stepped
    events: list[str] = []
    link = make(events=events, failsafe_current_a=8, failsafe_timeout_s=20)
    link.set_setpoint(16)
    run_link(link, clock, 10)
    # A restart of the box without the connection dropping (as on RS-485) resets its registers.
    other = ModbusTcpClient("127.0.0.1", port=box.port, timeout=2, retries=0)
    assert other.connect()
    try:
        other.write_register(2000, 32, device_id=255)
        other.write_register(5004, 32, device_id=255)
    finally:
        other.close()
    run_link(link, clock, 16)  # the setpoint read-back comes every 15 s
    assert box.failsafe_current_a == 8 and box.setpoint_a == 16
    assert link.connected and link.health().holding
    assert any("failsafe and setpoint written again" in e for e in events)


def test_a_box_without_identity_registers_still_charges(stepped):
    box, clock, make = stepped
    box.missing_registers = {130}  # chargepoint id: not on every firmware
    events: list[str] = []
    link = make(events=events)
    link.set_setpoint(16)
    run_link(link, clock, 10)
    assert link.connected and link.identity is None and link.status is not None
    assert box.setpoint_a == 16 and link.health().holding
    assert any("identity" in e and "130-179" in e for e in events)


def test_refused_status_keeps_the_heartbeat_and_reports_the_register(stepped):
    box, clock, make = stepped
    box.missing_registers = {1106}
    link = make(failsafe_timeout_s=20)
    link.set_setpoint(16)
    run_link(link, clock, 5)
    assert "1106" in link.last_error and "ILLEGAL ADDRESS" in link.last_error
    assert link.connected and link.status is None
    alive_before = box.alive_writes
    run_link(link, clock, 60)
    assert box.alive_writes >= alive_before + 11
    assert link.reconnects == 0 and not box.in_failsafe
    box.missing_registers = set()
    run_link(link, clock, 125)  # the limits are read every 2 minutes
    assert link.status is not None
    assert link.last_error is None


def test_a_box_that_fails_right_after_connecting_is_not_hammered(stepped):
    box, clock, make = stepped
    box.missing_registers = {2002}  # the very first write is refused: the link cannot set the failsafe
    link = make()
    run_link(link, clock, 10)
    attempts = [r.at_s for r in box.requests if r.function_code == 6 and r.address == 2002]
    assert 9 <= len(attempts) <= 11  # once a second, not a tight loop
    assert not link.connected
    assert "2002" in link.last_error
