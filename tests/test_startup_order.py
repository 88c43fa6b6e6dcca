"""`wallbox run` starts with the wallbox: the first setpoint is not held up by the screen.

Waking the LCD takes 0.6 s of waits the ST7735 datasheet asks for; before, they (and Pillow's
import) came before the wallbox was even connected. Here the service runs in a child process
against the simulated EMS wallbox on loopback, with a stand-in screen that takes as long to wake
as the real panel and records when it did.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from appliance.sim.wallbox import SimulatedWallbox

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setpoint_writes(box: SimulatedWallbox) -> list[float]:
    return [r.at_s for r in list(box.requests) if r.function_code == 6 and r.address == SETPOINT_REGISTER]


def test_the_first_setpoint_reaches_the_wallbox_while_the_screen_is_still_waking(tmp_path):
    box = SimulatedWallbox()
    box.plug_in()
    port = box.serve_tcp("127.0.0.1", 0)
    config = tmp_path / "wallbox.toml"
    config.write_text(textwrap.dedent(f"""
        [grid]
        allowance_w = 11000

        [wallbox]
        transport = "tcp"
        host = "127.0.0.1"
        port = {port}

        [fronius]
        ftp_host = "127.0.0.1"
        ftp_port = {_free_port()}
        ftp_password = "startup-test"

        [display]
        backend = "png"
        png_path = "{tmp_path / 'screen.png'}"

        [button]
        pin = 0

        [web]
        enabled = false

        [state]
        dir = "{tmp_path / 'state'}"
        control_socket = "{tmp_path / 'control.sock'}"
    """))
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
