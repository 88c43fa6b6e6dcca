"""The same driver over Modbus RTU, through a socat pseudo-terminal pair.

The pseudo-terminals refuse even and odd parity (termios answers EINVAL), so these tests use
parity "N"; the product's default stays "E", what the wallbox needs on RS-485.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest
import serial
from pymodbus.framer import FramerRTU

from appliance.sim.wallbox import SimulatedWallbox
from appliance.chargers.vestel_ems import VestelClient, WallboxLink
from appliance.chargers.vestel_ems.registers import REGISTERS, plan_reads
from appliance.chargers.vestel_ems.schedule import StatusSchedule
from waiting import wait_until


@pytest.fixture
def pty_pair(tmp_path):
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed: the RTU tests need it for a pseudo-terminal pair (apt-get install socat)")
    tty_box, tty_appliance = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(
        [socat, "-d", "-d", f"pty,raw,echo=0,link={tty_box}", f"pty,raw,echo=0,link={tty_appliance}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_until(lambda: tty_box.exists() and tty_appliance.exists(), timeout_s=5):
            proc.kill()
            pytest.fail(f"socat did not create the pseudo-terminals: {proc.communicate(timeout=2)[1].decode()}")
        yield os.fspath(tty_box), os.fspath(tty_appliance)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
        proc.stderr.close()


@pytest.fixture
def rtu_sim(pty_pair):
    tty_box, tty_appliance = pty_pair
    sim = SimulatedWallbox(alive_check_min_s=1.0)  # checks every second with a 2 s failsafe timeout
    sim.serve_rtu(tty_box, baudrate=9600, parity="N")
    yield sim, tty_appliance
    sim.stop()


def test_identity_status_and_setpoint_over_rtu(rtu_sim):
    sim, tty = rtu_sim
    client = VestelClient.rtu(tty, baudrate=9600, parity="N")
    assert client.describe() == f"Modbus RTU {tty} 9600 8N1 unit 255"
    assert client.connect()
    try:
        client.write_failsafe(10, 20)
        client.write_setpoint(16)
        sim.plug_in(car_max_a=32)
        identity = client.read_identity()
        status = client.read_status()
    finally:
        client.close()
    assert identity.brand == "Vestel" and identity.phases == 3
    assert status.car_connected and status.charging
    assert status.currents_a == (16.0, 16.0, 16.0)
    assert (status.failsafe_current_a, status.failsafe_timeout_s, status.setpoint_a) == (10, 20, 16)
    assert sim.writes == [(2002, 20), (2000, 10), (5004, 16)]
    assert all(r.unlisted == () for r in sim.requests)


def test_link_keeps_the_box_alive_over_rtu(rtu_sim):
    sim, tty = rtu_sim
    sim.plug_in()
    client = VestelClient.rtu(tty, baudrate=9600, parity="N")
    link = WallboxLink(client, failsafe_current_a=8, failsafe_timeout_s=2, schedule=StatusSchedule().scaled(0.06))
    link.set_setpoint(10)
    link.start()
    try:
        assert wait_until(lambda: link.status is not None, timeout_s=5)
        assert sim.writes[:4] == [(2002, 2), (2000, 8), (5004, 10), (6000, 1)]
        assert link.set_setpoint(12) is True
        assert wait_until(lambda: sim.setpoint_a == 12 and sim.current_a == 12, timeout_s=1)
        time.sleep(1.6)  # the box checks the alive register every second
        assert not sim.in_failsafe
        times = [r.at_s for r in sim.requests if r.function_code == 6 and r.address == 6000]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(times) >= 4 and max(gaps) < 0.75, times  # every 0.5 s, a request late at most
        assert link.status.currents_a[0] == 12.0
        assert link.identity is not None and link.identity.brand == "Vestel"
        assert link.health().holding
        assert all(r.unlisted == () for r in sim.requests)
        state_reads = [r for r in sim.requests if r.function_code == 4 and r.address == 1000]
        assert len(state_reads) >= 5  # the car's state every 0.3 s while it charges
    finally:
        link.stop()



def test_an_answer_that_comes_in_pieces_is_read_whole_without_waiting_for_the_timeout(pty_pair):
    """The client sleeps in select() until bytes come and hands pymodbus what has come: a frame
    whose bytes arrive 50 ms apart is still one answer, taken as soon as it is whole."""
    tty_box, tty_appliance = pty_pair
    box = serial.Serial(tty_box, 9600, timeout=2)
    frame = bytes([255, 4, 2, 0, 7])   # unit 255, read input registers, 2 bytes: the value 7
    answer = frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")
    sent: list[float] = []

    def answer_in_pieces():
        if len(box.read(8)) == 8:
            box.write(answer[:3])
            time.sleep(0.05)
            box.write(answer[3:])
            sent.append(time.monotonic())

    thread = threading.Thread(target=answer_in_pieces)
    thread.start()
    client = VestelClient.rtu(tty_appliance, baudrate=9600, parity="N", timeout_s=2.0)
    try:
        assert client.connect()
        values = client.read_run(plan_reads([REGISTERS["cable_state"]])[0])
        done = time.monotonic()
    finally:
        thread.join(5)
        client.close()
        box.close()
    assert values == {"cable_state": 7}
    assert sent and done - sent[0] < 1.0   # not after the 2 s timeout
