"""The front button through the running service: RPi.GPIO faked at the kernel seam, the rest real."""

import sys
import threading
import time
import types

from appliance.config import Settings, with_overrides
from appliance.runtime import Runtime
from appliance.sim.wallbox import SimulatedWallbox
from display.screens import screen_name

from test_button import FakeGpio
from waiting import wait_until as wait_for


def test_short_press_pauses_within_0_3_s_and_long_press_steps_the_mode(tmp_path, monkeypatch):
    gpio = FakeGpio()
    package = types.ModuleType("RPi")
    package.GPIO = gpio
    monkeypatch.setitem(sys.modules, "RPi", package)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", gpio)
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp()
    wallbox.plug_in()
    settings = with_overrides(
        Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": port},
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none", "backlight_timeout_s": 60.0},
        button={"pin": 21, "pause_minutes": 10.0, "long_press_s": 0.5}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    frames = []
    service = Runtime(settings, on_frame=lambda image: frames.append((time.monotonic(), service.snapshot())),
                      ip_address="127.0.0.1")
    thread = threading.Thread(target=service.run, daemon=True)
    try:
        service.start()
        thread.start()
        assert wait_for(lambda: wallbox.setpoint_a == 15)
        # A short press with contact bounce on the way down and up.
        for level in (gpio.LOW, gpio.HIGH, gpio.LOW):
            gpio.drive(21, level)
            time.sleep(0.002)
        time.sleep(0.2)
        for level in (gpio.HIGH, gpio.LOW, gpio.HIGH):
            gpio.drive(21, level)
            time.sleep(0.002)
        released = time.monotonic()
        assert wait_for(lambda: any(t > released and screen_name(s) == "paused" for t, s in frames), 1.0)
        confirmed = next(t for t, s in frames if t > released and screen_name(s) == "paused")
        assert confirmed - released < 0.3
        assert wait_for(lambda: wallbox.setpoint_a == 0)
        assert 9 * 60 < service.core.state.pause_remaining_s(time.time()) <= 10 * 60
        # Hold 0.5 s (the long press set here): the next mode (fast -> pv), and the pause stays.
        gpio.drive(21, gpio.LOW)
        assert wait_for(lambda: service.core.state.mode == "pv", 2.0)
        gpio.drive(21, gpio.HIGH)
        time.sleep(0.2)
        assert service.core.state.mode == "pv" and service.core.paused(time.time())
    finally:
        service.stop()
        thread.join(timeout=5)
        service.close()
        wallbox.stop()
    assert ("cleanup", 21) in gpio.calls
