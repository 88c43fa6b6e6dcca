"""The EMS link (one thread, setpoint, heartbeat, status, reconnect) against the simulated wallbox.

Where time is the subject the link is stepped on a clock the test moves (ems_stepping); where the
socket or the thread is the subject it runs for real over Modbus TCP loopback.
"""

from __future__ import annotations

import socket
import threading

import pytest

from appliance.chargers.vestel_ems import VestelClient, WallboxLink
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from appliance.sim.wallbox import SimulatedWallbox
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


# --- link ------------------------------------------------------------------------------------------


def test_failsafe_registers_are_written_before_any_other_request(sim, links):
    link = links(sim.port, failsafe_current_a=10, failsafe_timeout_s=12)
    link.set_setpoint(16)  # remembered before the connection exists
    link.start()
    # Identity is read after the first status: it is for people, the status is for control.
    assert wait_until(lambda: link.status is not None and link.identity is not None, timeout_s=5)
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


def test_a_box_that_keeps_reading_back_another_setpoint_is_not_kept_alive(stepped):
    box, clock, make = stepped
    box.plug_in(car_max_a=32)
    events: list[str] = []
    link = make(events=events)
    link.set_setpoint(10)
    run_link(link, clock, 10)
    assert link.health().holding
    box.forced_words = {5004: 32}  # writes are accepted, but the box says it holds 32 A
    run_link(link, clock, 35)  # two read-backs (every 15 s): the first rewrites, the second gives up
    health = link.health()
    assert not health.holding and "keeps reporting 32 A in register 5004" in health.problem
    alive_before = box.alive_writes
    run_link(link, clock, 30)
    assert box.alive_writes == alive_before and box.in_failsafe  # fell back to its failsafe current
    box.forced_words = {}
    run_link(link, clock, 20)
    assert link.health().holding and not box.in_failsafe and box.current_a == 10
    assert sum("restarted?" in e for e in events) == 1


def test_a_setpoint_handed_over_during_the_heartbeat_goes_before_any_read(stepped):
    box, clock, make = stepped
    link = make()
    link.set_setpoint(10)
    run_link(link, clock, 10)
    original = link.client.write_alive

    def alive_then_new_setpoint():
        original()
        link.set_setpoint(20)  # the control loop, while the heartbeat was on the wire

    link.client.write_alive = alive_then_new_setpoint
    clock.now_s += 5  # the heartbeat is due, and so are status reads
    before = len(box.requests)
    link.step()
    link.step()
    done = [(r.function_code, r.address) for r in box.requests[before:]]
    assert done[:2] == [(6, 6000), (6, 5004)], done
