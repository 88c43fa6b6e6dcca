"""`wallbox run` starts with the wallbox: the first setpoint is not held up by the screen.

Waking the LCD takes 0.6 s of waits the ST7735 datasheet asks for; before, they (and Pillow's
import) came before the wallbox was even connected. Here the service runs in a child process
against the simulated EMS wallbox on loopback, with a stand-in screen that takes as long to wake
as the real panel and records when it did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.sim.wallbox import SimulatedWallbox
from service_settings import settings_file

ROOT = Path(__file__).resolve().parents[1]
SETPOINT_REGISTER = 5004
PANEL_WAKE_S = 0.6   # display/panel_st7735.py: reset pulse and the waits after reset, sleep-out, display-on

_CHILD = """
import json, sys, time
from appliance import cli, service

woke = {}

def slow_screen(settings):
    woke["start_s"] = time.monotonic()
    time.sleep(float(sys.argv[3]))   # the panel's wake-up waits
    woke["end_s"] = time.monotonic()
    with open(sys.argv[2], "w") as f:
        json.dump(woke, f)
    return None

service.make_display = slow_screen
sys.exit(cli.main(["run", "--config", sys.argv[1]]))
"""


def _setpoint_writes(box: SimulatedWallbox) -> list[float]:
    return [r.at_s for r in list(box.requests) if r.function_code == 6 and r.address == SETPOINT_REGISTER]


def test_the_first_setpoint_reaches_the_wallbox_while_the_screen_is_still_waking(tmp_path):
    box = SimulatedWallbox()
    box.plug_in()
    port = box.serve_tcp("127.0.0.1", 0)
    config = settings_file(tmp_path, f'transport = "tcp"\nhost = "127.0.0.1"\nport = {port}',
                           display=f'backend = "png"\npng_path = "{tmp_path / "screen.png"}"')
    marker = tmp_path / "screen-woke.json"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(config), str(marker), str(PANEL_WAKE_S)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and _setpoint_writes(box)) and child.poll() is None:
            assert time.monotonic() < deadline, "the service neither woke the screen nor wrote a setpoint in 30 s"
            time.sleep(0.02)
        writes = _setpoint_writes(box)
    finally:
        child.terminate()   # as systemd stops it
        output = child.communicate(timeout=30)[0]
        box.stop()
    assert child.returncode == 0, output[-3000:]
    woke = json.loads(marker.read_text())
    assert writes, "no setpoint reached the simulated wallbox"
    # The wallbox's clock and the child's are the same CLOCK_MONOTONIC. Before, the screen woke
    # first and the first setpoint came after the whole wake-up.
    assert writes[0] < woke["end_s"], (writes[0] - woke["start_s"], woke["end_s"] - woke["start_s"])


class _FirstSetpoints:
    """A wallbox driver that records each setpoint and what the runtime had set up by then."""

    kind = "ems"
    link_hint = "nothing to check"

    def __init__(self):
        self.runtime = None
        self.setpoints: list[tuple[int, bool, bool]] = []   # (A, FTP server made, socket made)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def set_setpoint(self, current_a: int) -> None:
        self.setpoints.append((current_a, self.runtime.receiver is not None,
                               self.runtime.control_server is not None))

    def reading(self):
        from appliance.chargers.base import ChargerReading

        return ChargerReading(at_s=time.monotonic(), car_connected=True, charging=False, power_w=0.0,
                              currents_a=(0.0, 0.0, 0.0), limit_a=32)

    def health(self):
        from appliance.chargers.base import ChargerHealth

        return ChargerHealth(connected=True, holding=True)

    def identity(self):
        return None


@pytest.mark.parametrize("saved, first_a", [
    (None, 15),                                                             # 11 kW / 690 V, no PV data
    ({"mode": "off", "paused": False, "pause_until_epoch_s": None}, 0),     # restored mode off
    ({"mode": "fast", "paused": True, "pause_until_epoch_s": None}, 0),     # restored pause
])
def test_the_first_setpoint_comes_before_the_ftp_server_and_socket_and_obeys_the_saved_state(
        tmp_path, saved, first_a):
    from appliance.config import Settings, with_overrides
    from appliance.runtime import Runtime

    state_dir = tmp_path / "state"
    if saved is not None:
        state_dir.mkdir()
        (state_dir / "state.json").write_text(json.dumps({"version": 1, **saved}))
    settings = with_overrides(
        Settings(), grid={"allowance_w": 11000}, control={"mode": "fast"},
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"}, display={"backend": "none"},
        button={"pin": 0}, web={"enabled": False},
        state={"dir": str(state_dir), "control_socket": str(tmp_path / "control.sock")})
    charger = _FirstSetpoints()
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1")
    charger.runtime = runtime
    try:
        runtime.start()
        # The first setpoint: without inverter data the allowance alone (safety rule 2), and the
        # restored mode or pause already applied; nothing else was set up yet.
        assert charger.setpoints[0] == (first_a, False, False)
        assert runtime.receiver is not None and runtime.receiver.address[1] > 0
        assert runtime.control_server is not None
    finally:
        runtime.close()
