"""The service entry: `wallbox run` (the appliance, what systemd starts) and the stand-in that
shows a settings problem on the screen. The running itself is appliance/runtime.py; the
decisions are appliance/core.py."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from datetime import datetime
from pathlib import Path

from . import __version__
from .config import Settings
from .sdnotify import SystemdNotifier

log = logging.getLogger("appliance")


def local_ip() -> str | None:
    """The address other devices (the inverter) reach this one at; no packet is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET address: only picks the outgoing interface
            return s.getsockname()[0]
    except OSError:
        return None


def make_display(settings: Settings):
    """The panel backend from the settings; None when the screen is off."""
    d = settings.display
    if d.backend == "none":
        return None
    from display.backends import make_backend

    if d.backend == "png":
        return make_backend("png", png_path=d.png_path)
    return make_backend(
        "st7735", port=d.spi_port, cs=d.spi_cs, dc=d.dc_pin, rst=d.reset_pin, backlight=d.backlight_pin,
        rotation=d.rotation, invert=d.invert, bgr=d.bgr, offset_left=d.offset_left,
        offset_top=d.offset_top, spi_speed_hz=d.spi_speed_hz,
    )


def _open_display(settings: Settings):
    try:
        return make_display(settings)
    except Exception as exc:  # no screen is better than no charging control
        log.error("The display could not be started (%s): running without it. Check [display] in the "
                  "settings and the LCD wiring.", exc)
        return None


def run_service(settings: Settings, config_path: str | None = None) -> int:
    """`wallbox run`: runs until SIGTERM or Ctrl-C, then stops cleanly with exit code 0.

    The wallbox comes first: the runtime starts the driver (failsafe registers, safety rule 5) and
    its first control cycle hands it the first setpoint, before the FTP server and the control
    socket are set up (Runtime.start); only then is the screen set up. Waking the LCD takes 0.6 s
    of waits the ST7735 datasheet asks for (display/panel_st7735.py) plus Pillow's import, all of
    which used to come before the wallbox was even connected. The control loop starts with a
    cycle, so the screen shows its first picture at once.
    """
    from .runtime import Runtime

    # Threads hand work on (a push to the control thread, a setpoint to the link's thread): with
    # CPython's 5 ms switch interval the woken thread may wait that long for the interpreter lock
    # while the other one finishes its work. 1 ms bounds that wait.
    sys.setswitchinterval(0.001)
    runtime = Runtime(settings, display_backend=None)

    def on_signal(signum, _frame):
        _off_the_signal(lambda: (log.info("Received %s: stopping.", signal.Signals(signum).name),
                                 runtime.stop()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        try:
            runtime.start()
        except OSError as exc:
            # A port in use or a device that cannot be opened: the fix is outside this program.
            log.error("The appliance cannot start: %s", _start_problem(exc, config_path or "the settings"))
            return 2
        runtime.display = _open_display(settings)
        runtime.run()
    finally:
        runtime.close()
    log.info("Stopped.")
    return 0


def _off_the_signal(action) -> None:
    """Runs a signal handler's work on a thread of its own. The handler interrupts the main thread
    between two bytecodes, possibly while it holds the inbox's or an Event's lock (a plain Lock,
    taken again by put() or set()): doing that work in the handler itself can deadlock, and the
    service then ignores SIGTERM until systemd kills it."""
    threading.Thread(target=action, name="signal", daemon=True).start()


def _start_problem(exc: OSError, settings_file: str) -> str:
    """An OSError from starting the runtime as sentences that end with the fix."""
    reason = exc.strerror or str(exc)
    what = getattr(exc, "filename", None)
    text = f"{what}: {reason}" if what else reason
    if text.rstrip().endswith("."):   # the runtime's own sentence, which names the fix already
        return f"{text.rstrip()} (settings: {settings_file})"
    return (f"{text}. Stop the other program using it, or change the port or device in {settings_file}, "
            f"then start the appliance again.")


def run_with_invalid_settings(config_path: str, problems: list[str]) -> int:
    """Under systemd: show "settings invalid" on the screen and wait, touching nothing else.

    The wallbox is left alone (if it was configured before, its own failsafe applies); restarting in
    a loop would only make the screen flicker. The user fixes the file and restarts the appliance.
    """
    from .config import ConfigError, DisplaySettings, load_settings

    display_settings = DisplaySettings()
    try:
        # Only [display]: the screen can show the problem even when the rest of the file is wrong.
        display_settings = load_settings(config_path, only=("display",)).display
    except (OSError, ConfigError):
        pass
    first = problems[0] if problems else "the settings file cannot be read"
    message = f"{Path(config_path).name}: {first}"
    for problem in problems:
        log.error("Settings problem in %s: %s", config_path, problem)
    log.error("Charging control is not running until %s is fixed; the wallbox is left alone.", config_path)
    from display.snapshot import Snapshot

    display = None
    try:
        display = make_display(Settings(display=display_settings))
        if display is not None:
            from display.screens import render

            display.show(render(Snapshot(now=datetime.now(), version=__version__, ip_address=local_ip(),
                                         settings_error=message)))
    except Exception as exc:
        log.error("The display could not show the problem either (%s).", exc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: _off_the_signal(stop.set))
    notifier = SystemdNotifier()
    notifier.ready(f"Settings invalid: {first}")
    while not stop.wait(min(5.0, (notifier.watchdog_interval_s or 10.0) / 3)):
        notifier.watchdog()
    notifier.stopping()
    if display is not None:
        display.close()
    return 0
