"""kill -9 of `wallbox run` while the car charges, then a restart: the box falls back to its
failsafe current (never above the allowance-only current), the restarted service takes the box
again, keeps the mode it was told before the kill, continues the open session, and sessions.csv
gets exactly one row at unplug. The service runs as users run it: `python -m appliance.cli run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from appliance.control_socket import ControlError, send_command
from appliance.sessions import read_sessions
from appliance.sim.wallbox import SimulatedWallbox
from waiting import wait_until

ALLOWANCE_ONLY_A = 15   # 11 kW / (3 x 230 V)

CONFIG = """
[wallbox]
transport = "tcp"
host = "127.0.0.1"
port = {port}
failsafe_timeout_s = 6

[fronius]
ftp_host = "127.0.0.1"
ftp_port = 0
ftp_password = "kill-test-password"

[display]
backend = "none"

[button]
pin = 0

[web]
enabled = false

[state]
dir = "{state}"
control_socket = "{socket}"
"""


def start_service(config: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:   # the service keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd())


def mode_of(sock: Path) -> str | None:
    try:
        return send_command(sock, "status", timeout_s=2).get("mode")
    except ControlError:
        return None


def test_kill_9_while_charging_then_restart(tmp_path):
    box = SimulatedWallbox(alive_check_min_s=1.0)
    port = box.serve_tcp()
    box.plug_in(car_max_a=32)
    state, sock = tmp_path / "state", tmp_path / "control.sock"
    config = tmp_path / "wallbox.toml"
    config.write_text(CONFIG.format(port=port, state=state, socket=sock))
    log = tmp_path / "service.log"
    service = start_service(config, log)
    try:
        assert wait_until(lambda: box.granted_a == ALLOWANCE_ONLY_A or service.poll() is not None,
                          timeout_s=15) and service.poll() is None, log.read_text()
        assert wait_until(lambda: mode_of(sock) is not None, timeout_s=5), log.read_text()
        send_command(sock, "mode", mode="minpv")
        assert wait_until(lambda: (state / "session_open.json").exists(), timeout_s=5)
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=5)
        # No heartbeat any more: within its failsafe timeout the box falls back to the failsafe
        # current the service set at start-up, which is safe without PV. (Waiting the 6 s for it
        # is the EMS tests' job: tests/test_vestel_faults.py.)
        assert box.failsafe_current_a <= ALLOWANCE_ONLY_A and box.granted_a <= ALLOWANCE_ONLY_A
        service = start_service(config, log)
        assert wait_until(lambda: mode_of(sock) == "minpv", timeout_s=15), log.read_text()
        alive_before = box.alive_writes
        assert wait_until(lambda: box.alive_writes > alive_before and not box.in_failsafe
                          and box.granted_a <= ALLOWANCE_ONLY_A, timeout_s=10), log.read_text()
        box.unplug()
        assert wait_until(lambda: len(read_sessions(state / "sessions.csv")) == 1, timeout_s=10), \
            log.read_text()
        assert box.violations == []
        assert "Traceback" not in log.read_text()
    finally:
        service.kill()
        service.wait(timeout=5)
        box.stop()
