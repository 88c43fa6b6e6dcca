"""The appliance end to end on loopback: real FTP pushes in, the runtime and core in between, real
Modbus writes out. Where time is the subject the runtime's clock is stepped, not waited for."""

import ftplib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from appliance.chargers.vestel_ems import EmsCharger, StatusSchedule
from appliance.config import Settings, with_overrides
from appliance.runtime import Runtime
from appliance.sim.wallbox import SimulatedWallbox
from service_settings import settings_file
from waiting import wait_until as wait_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "samples" / "fronius"


def powerflow(pv_w, grid_w=-100.0):
    return json.dumps({
        "Head": {"Status": {"Code": 0}, "Timestamp": "2026-11-21T12:00:00+01:00", "RequestArguments": {}},
        "Body": {"Site": {"P_PV": pv_w, "P_Grid": grid_w, "P_Load": -500.0, "P_Akku": None, "Mode": "meter"},
                 "Inverters": {"1": {"DT": 1, "P": pv_w}}, "Version": "12"},
    }).encode()


class SteppedClock:
    """The monotonic clock plus an offset a test can step forward (data goes stale at once)."""

    def __init__(self):
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset_s


def rig_settings(tmp_path, port, **overrides):
    return with_overrides(
        Settings(),
        wallbox={"transport": "tcp", "host": "127.0.0.1", "port": port},
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw", "stale_after_s": 60.0},
        control={"ramp_up_interval_s": 0.0},
        display={"backend": "none"},
        button={"pin": 0}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")},
        **overrides,
    )


@pytest.fixture
def rig(tmp_path):
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp("127.0.0.1", 0)
    wallbox.plug_in()
    clock = SteppedClock()
    settings = rig_settings(tmp_path, port)
    # The wallbox read and the core ticked five times a second: a test waits for what it tests,
    # not for the link's or the control loop's period.
    charger = EmsCharger.from_settings(settings, clock=clock, schedule=StatusSchedule().scaled(0.04))
    runtime = Runtime(settings, charger=charger, clock=clock, ip_address="127.0.0.1", cycle_s=0.2)
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()

    def push(data: bytes, name="powerflow.json"):
        ftp = ftplib.FTP()
        ftp.connect(*runtime.receiver.address, timeout=5)
        ftp.login("fronius", "pw")
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        ftp.quit()

    assert wait_for(lambda: runtime.charger.health().connected and wallbox.setpoint_a == 15)
    yield runtime, wallbox, push, clock
    runtime.stop()
    thread.join(timeout=5)
    runtime.close()
    wallbox.stop()


def test_current_follows_pv_and_falls_back_when_data_stops(rig):
    runtime, wallbox, push, clock = rig
    push(powerflow(5600.0))
    assert wait_for(lambda: wallbox.setpoint_a == 24)   # (11000 + 5600) / 690 = 24.06
    push(powerflow(1000.0))
    assert wait_for(lambda: wallbox.setpoint_a == 17)
    # No push for longer than stale_after_s: allowance only.
    clock.offset_s += 61.0
    runtime.inbox.put(("wake", None))
    assert wait_for(lambda: wallbox.setpoint_a == 15)
    assert runtime.core.accepted_pushes == 2


def test_real_samples_drive_the_setpoint(rig):
    runtime, wallbox, push, _ = rig
    push((SAMPLES / "14_push_powerflow_symo_grid_meter_export_zeitinfarkt.json").read_bytes())
    assert wait_for(lambda: runtime.core.accepted_pushes == 1)
    pv = runtime.core.readings.pv_w
    assert pv > 0
    assert wait_for(lambda: wallbox.setpoint_a == min(32, int((11000 + pv) // 690)))
    push((SAMPLES / "07_error_code255_storage_not_supported_primo_ha.json").read_bytes())
    assert wait_for(lambda: runtime.core.rejected_pushes == 1)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda pv: powerflow(pv), st.sampled_from([-50.0, 2e6, 1e12])),
    st.builds(lambda doc: json.dumps(doc).encode(), st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["Body", "Head", "Site", "P_PV", "Data"]), c, max_size=3),
        max_leaves=8)),
))
def test_rule7_bad_pushes_never_raise_the_current_and_keep_the_service_running(rig, junk):
    runtime, wallbox, push, _ = rig
    core = runtime.core

    def handled():
        return core.rejected_pushes + core.accepted_pushes

    before = handled()
    push(powerflow(3000.0))
    assert wait_for(lambda: handled() == before + 1 and wallbox.setpoint_a == 20)
    before += 1
    push(junk, name="junk.json")
    assert wait_for(lambda: handled() == before + 1)
    if core.readings.pv_w != 3000.0:
        # Only a document that parses as valid data may change anything.
        assert 0 <= core.readings.pv_w <= 1e6
    else:
        assert wallbox.setpoint_a <= 20
    assert runtime.charger.health().connected


def test_pause_resume_and_mode_over_the_control_socket_survive_a_restart(rig):
    from appliance.control_socket import send_command

    runtime, wallbox, push, _ = rig
    sock = runtime.settings.state.control_socket
    assert send_command(sock, "pause", minutes=None)["paused"] is True
    assert wait_for(lambda: wallbox.setpoint_a == 0)
    assert send_command(sock, "resume")["paused"] is False
    assert wait_for(lambda: wallbox.setpoint_a == 15)
    assert send_command(sock, "mode", mode="off")["previous_mode"] == "fast"
    assert wait_for(lambda: wallbox.setpoint_a == 0)
    assert runtime.command("mode", mode="warp")["ok"] is False
    status = send_command(sock, "status")
    assert status["mode"] == "off" and status["setpoint_a"] == 0
    assert status["reason"] == "Mode off" and status["wallbox_connected"] is True
    send_command(sock, "pause", minutes=30)
    # A new runtime on the same state directory (a restart or a power cut) comes back off and paused.
    again = Runtime(runtime.settings, ip_address="127.0.0.1")
    assert again.core.state.mode == "off" and again.core.paused(time.time())
    assert again.core.state.pause_until_epoch_s - time.time() > 29 * 60


def test_wallbox_run_stops_cleanly_on_sigterm(tmp_path):
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp("127.0.0.1", 0)
    wallbox.plug_in()
    cfg = settings_file(tmp_path, f'transport = "tcp"\nhost = "127.0.0.1"\nport = {port}',
                        display=f'backend = "png"\npng_path = "{tmp_path / "screen.png"}"')
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        assert wait_for(lambda: wallbox.setpoint_a == 15, timeout_s=15)
        assert wait_for(lambda: (tmp_path / "screen.png").exists(), timeout_s=5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        wallbox.stop()
    assert proc.returncode == 0, out
    assert "Allowance only 11.0 kW (no fresh PV data) -> 15 A" in out
    assert "Stopped." in out


def test_invalid_settings_under_systemd_show_the_problem_and_wait(tmp_path):
    import socket as socketlib

    from PIL import Image

    listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.settimeout(10)
    cfg = tmp_path / "wallbox.toml"
    screen = tmp_path / "screen.png"
    cfg.write_text(f'[grid]\nallowance_w = -5\n[display]\nbackend = "png"\npng_path = "{screen}"\n')
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify"))
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        ready = listener.recv(4096).decode()
        assert ready.startswith("READY=1") and "Settings invalid: grid.allowance_w = -5" in ready
        assert wait_for(screen.exists)
        with Image.open(screen) as image:
            assert image.size == (160, 128)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 0
    assert "Settings problem in" in out and "fronius.ftp_password" in out


def test_a_charging_session_is_recorded_from_plug_in_to_unplug(rig):
    from appliance.sessions import read_sessions

    runtime, wallbox, push, _ = rig
    wallbox.energy_time_scale = 1000.0  # the meter counts in 0.1 kWh: let a second show on it
    push(powerflow(5600.0, grid_w=-2000.0))
    assert wait_for(lambda: runtime.core.sessions.current is not None and wallbox.setpoint_a == 24)
    assert wait_for(lambda: runtime.core.sessions.current.energy_wh > 0, timeout_s=6)
    wallbox.unplug()
    csv_path = Path(runtime.settings.state.dir) / "sessions.csv"
    assert wait_for(lambda: csv_path.exists() and len(read_sessions(csv_path)) == 1, timeout_s=6)
    (session,) = read_sessions(csv_path)
    assert session.energy_wh > 0 and session.peak_current_a >= 20
    assert 0 < session.pv_share <= 1


def test_a_gen24_charging_its_battery_counts_only_the_pv_that_reaches_the_house(rig):
    """P_PV 1148 W with the battery charging 660 W: 488 W reach the house, so 11 kW + 0.49 kW gives
    16 A on three phases, not the 17 A that counting the whole production would give."""
    runtime, wallbox, push, _ = rig
    push(powerflow(2500.0))
    assert wait_for(lambda: wallbox.setpoint_a == 19)      # (11000 + 2500) / 690 = 19.6
    answer = json.loads((ROOT / "tests" / "samples" / "fronius-gen24" / "gen24_battery_charging_660w.json").read_text())
    doc = {"Head": {**answer["Head"], "Timestamp": "2026-11-21T12:00:10+01:00"}, "Body": answer["Body"]["Data"]}
    push(json.dumps(doc).encode(), name="gen24.json")     # the push layout: Body holds the data itself
    assert wait_for(lambda: runtime.core.accepted_pushes == 2)
    assert wait_for(lambda: wallbox.setpoint_a == 16)
    assert abs(runtime.core.readings.pv_w - (1147.7 - 660.3)) < 1.0


def test_a_signal_handlers_work_never_waits_for_a_lock_the_interrupted_thread_holds():
    """SIGTERM arrives while the main thread holds the inbox's lock: the stop must still happen."""
    from appliance.service import _off_the_signal

    lock, got = threading.Lock(), []
    with lock:  # the interrupted main thread, inside queue.get() or Event.wait()
        _off_the_signal(lambda: got.append(lock.acquire(timeout=1.0)))
    deadline = time.monotonic() + 5.0
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [True]
