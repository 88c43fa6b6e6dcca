"""The running service for some real minutes (`python -m appliance.sim.soak --real-minutes M`).

Wired as `wallbox demo` wires it, at the speed of a real day: a simulated wallbox over Modbus TCP
with a car plugged in, a simulated inverter pushing by FTP every second, the control socket asked
for the status every second. RSS, threads and descriptors are taken after a warm-up and at the end.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..control_socket import ControlError, send_command
from ..runtime import Runtime
from .demo import demo_settings
from .inverter import SimulatedInverter
from .soak import growth, usage
from .wallbox import SimulatedWallbox

WARM_UP_S = 20.0
RSS_TOLERANCE_B = 2 * 1024 * 1024


def soak_service(minutes: float, out=sys.stdout) -> int:
    with tempfile.TemporaryDirectory(prefix="wallbox-soak-") as tmp:
        wallbox = SimulatedWallbox()
        port = wallbox.serve_tcp("127.0.0.1", 0)
        wallbox.plug_in(car_max_a=32)
        password = secrets.token_urlsafe(12)
        settings = demo_settings(password, port, Path(tmp))
        runtime = Runtime(settings)
        runtime.start()
        host, ftp_port = runtime.receiver.address
        inverter = SimulatedInverter(host=host, port=ftp_port, user=settings.fronius.ftp_user,
                                     password=password, interval_s=1.0, pv_w=lambda: 6000.0,
                                     house_w=lambda: 500.0, car_w=lambda: float(wallbox.power_w))
        control = threading.Thread(target=runtime.run, name="control", daemon=True)
        control.start()
        inverter.start()
        errors = 0
        try:
            errors += _ask_status(settings.state.control_socket, WARM_UP_S)
            first = usage()
            errors += _ask_status(settings.state.control_socket, minutes * 60.0 - WARM_UP_S)
            end = usage()
        finally:
            inverter.stop()
            runtime.stop()
            control.join(timeout=5)
            runtime.close()
            wallbox.stop()
    core = runtime.core
    print(f"Service soak: {minutes:g} real minutes, {core.accepted_pushes} pushes accepted, "
          f"{core.rejected_pushes} rejected, {errors} status requests unanswered, highest setpoint "
          f"{core.highest_setpoint_a} A, wallbox violations {len(wallbox.violations)}.", file=out)
    print(f"  after {WARM_UP_S:.0f} s: {first.line()}", file=out)
    print(f"  at the end: {end.line()}", file=out)
    grown = growth(first, end, memory="rss_bytes", tolerance_b=RSS_TOLERANCE_B)
    for line in grown:
        print(f"  {line}", file=out)
    return 1 if grown or errors or wallbox.violations else 0


def _ask_status(path, seconds: float) -> int:
    """Asks for the status once a second for `seconds`; returns how many went unanswered."""
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            send_command(path, "status", timeout_s=5)
        except ControlError:
            errors += 1
        time.sleep(1.0)
    return errors
