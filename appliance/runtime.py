"""The thin runtime: threads, the inbox, start/stop order and the systemd watchdog.

One control thread drives the ApplianceCore (appliance/core.py). Everything else talks to it
through the inbox: the FTP receiver and the Solar API poller hand in measurements, the button and
the control socket hand in commands. The control thread ticks the core at once when something
arrives (a drop in PV lowers the current in the same cycle), hands the setpoint to the charger,
draws the screen and feeds the watchdog. Then it sleeps until the next deadline: the core's own
(appliance.core_deadline), the screen's next change, the backlight, the watchdog's half-period, a
look at the wallbox at least every CHARGER_LOOK_S (a driver with `on_change(callback)` wakes it
itself), and never longer than `cycle_s`. The charger driver (appliance/chargers/) has its thread."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from . import __version__, messages
from .chargers.base import Charger, PhaseSwitcher
from .commands import Request, validate
from .config import Settings
from .core import ApplianceCore, Clocks
from .policy.control import PolicySettings
from .policy.phases import PhaseSettings
from .policy.types import Command
from .runtime_parts import make_charger  # noqa: F401 (re-exported)
from .runtime_parts import battery_rules, dimming_monitor, no_data_hint
from .sdnotify import SystemdNotifier
from .sessions import SessionTracker
from .sources.fronius import Measurement
from .state import StateStore

log = logging.getLogger("appliance")

MAX_SLEEP_S = 30.0       # the longest the control thread sleeps, whatever the deadlines say
CHARGER_LOOK_S = 5.0     # the wallbox's reading and health are looked at least this often
MIN_SLEEP_S = 0.05       # between two timed cycles: a deadline already due cannot make it spin
DEADLINE_MARGIN_S = 0.01  # a screen step is met just after it, not a rounding error before
COMMAND_TIMEOUT_S = 5.0


class Runtime:
    """Wires sources -> core -> charger and screen. `run()` blocks until `stop()`."""

    def __init__(self, settings: Settings, *, charger: Charger | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] | None = None,
                 epoch_clock: Callable[[], float] = time.time, display_backend: Any = None,
                 on_frame: Callable[[Any], None] | None = None, notifier: SystemdNotifier | None = None,
                 settings_error: str | None = None, policy_overrides: dict | None = None,
                 ip_address: str | None = None, cycle_s: float = MAX_SLEEP_S):
        from .button import BacklightTimer
        from .service import local_ip

        self.settings = settings
        self.clock, self.epoch_clock = clock, epoch_clock
        tz = ZoneInfo(settings.control.timezone) if settings.control.timezone else None
        self.wall_clock = wall_clock or (lambda: datetime.now(tz).astimezone(tz))
        policy = PolicySettings.from_settings(settings)
        if policy_overrides:
            policy = replace(policy, **policy_overrides)
        state_dir = Path(settings.state.dir)
        self.core = ApplianceCore(
            policy, store=StateStore(state_dir, settings.control.mode),
            sessions=SessionTracker(state_dir / "sessions.csv", clock_wall=self.wall_clock),
            schedule=settings.control.schedule, tz=tz, button_pause_minutes=settings.button.pause_minutes,
            battery=battery_rules(settings),
            phases=PhaseSettings.from_settings(settings) if settings.wallbox.phase_switching else None)
        self.charger = charger if charger is not None else make_charger(settings, clock)
        # A Protocol isinstance check costs more than the rest of a quiet cycle: asked once.
        self._switcher = self.charger if isinstance(self.charger, PhaseSwitcher) else None
        self.dimming = dimming_monitor(settings)
        self._phases_handed: int | None = None
        self.inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.notifier = notifier or SystemdNotifier()
        self.settings_error = settings_error
        # Made in start() after the first setpoint: the FTP server (pyftpdlib) and the control
        # socket cost 10-20 ms of imports that the wallbox's first setpoint need not wait for.
        self.receiver = self.poller = self.control_server = None
        self.display, self.on_frame = display_backend, on_frame
        self.backlight = BacklightTimer(settings.display.backlight_timeout_s, clock)
        self._backlight_shown: bool | None = None
        self._image_shown = None   # render() hands back the same picture while nothing changed
        self.button = None
        self.cycle_s = cycle_s   # the longest sleep between two cycles (tests shorten it)
        self._next_cycle_s = -math.inf
        self._ip_address = ip_address if ip_address is not None else local_ip()
        from .runtime_remote import Remote

        self.remote = Remote(self)

    def _sources(self, f, clock):
        """(FTP receiver or None, poller or None) for [fronius] source: push (with the Solar API
        as a fallback when solar_api_url is set), solar_api or sunspec."""
        source = getattr(f, "source", "push")
        receiver = poller = None
        if source == "push":
            from .sources.ftp_receiver import FtpReceiver

            receiver = FtpReceiver(
                host=f.ftp_host, port=f.ftp_port, user=f.ftp_user, password=f.ftp_password,
                allowed_ips=f.allowed_ips, on_measurement=self._measurement_arrived,
                on_rejected=self._push_rejected, clock=clock)
        if source == "sunspec":
            from .sources.sunspec_poller import SunSpecPoller

            poller = SunSpecPoller(f.sunspec_host, self._measurement_arrived, self._push_rejected,
                                   port=f.sunspec_port, inverter_unit=f.sunspec_inverter_unit,
                                   meter_unit=f.sunspec_meter_unit, interval_s=f.solar_api_interval_s,
                                   clock=clock)
        elif f.solar_api_url and source in ("push", "solar_api"):
            from .sources.solar_api import SolarApiPoller  # brings `requests`: only when polled

            poller = SolarApiPoller(f.solar_api_url, self._measurement_arrived, self._push_rejected,
                                    interval_s=f.solar_api_interval_s, clock=clock)
        return receiver, poller

    def clocks(self) -> Clocks:
        return Clocks(self.clock(), self.wall_clock(), self.epoch_clock())

    # --- inputs from other threads ------------------------------------------------------------

    def _measurement_arrived(self, m: Measurement) -> None:
        self.inbox.put(("measurement", m))

    def _push_rejected(self, source: str, reason: str) -> None:
        self.inbox.put(("rejected", (source, reason)))

    def _post(self, request: Request) -> None:
        """A command from the button: queued for the control thread, which redraws at once."""
        self.inbox.put(("command", (request, queue.Queue(maxsize=1))))

    def _button_pressed(self) -> None:
        if self.backlight.wake():
            self.inbox.put(("wake", None))

    def _socket_request(self, request: dict) -> dict:
        return self.request(request)

    def request(self, request: dict) -> dict:
        """Any command dict (socket, web, MQTT): validated once, run in the control thread."""
        valid, error = validate(request)
        if valid is None:
            return {"ok": False, "error": error}
        done: queue.Queue = queue.Queue(maxsize=1)
        self.inbox.put(("command", (valid, done)))
        try:
            return done.get(timeout=COMMAND_TIMEOUT_S)
        except queue.Empty:
            return {"ok": False, "error": f"The service did not answer within {COMMAND_TIMEOUT_S:g} s."}

    def command(self, name: str, **args) -> dict:
        return self.request({"command": name, **args})

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        log.info(messages.starting(__version__, s.grid.allowance_w, s.grid.phases, s.grid.voltage_v,
                                   s.failsafe_current_a, s.wallbox.failsafe_timeout_s))
        # The wallbox first: its failsafe registers are set before anything else happens.
        self.charger.start()
        if self.dimming is not None:
            self.dimming.attach(lambda: self.inbox.put(("dimming", None)))
            log.info("Grid operator dimming input on BCM%d: %.1f kW from the grid while it is active.",
                     self.dimming.settings.pin, self.dimming.settings.dimmed_allowance_w / 1000)
        state = self.core.state
        if state.mode != s.control.mode or state.paused:
            log.info(messages.restored(self.core.store.path, state.mode, state.paused))
        # The first setpoint: no inverter data yet, so the allowance alone (or less: the restored
        # mode and pause, the dimming input), before the data sources and the socket are set up.
        self.core.no_data_hint = no_data_hint(s.fronius)
        self.cycle()
        self.receiver, self.poller = self._sources(s.fronius, self.clock)
        ready = self._start_sources()
        self._open_control_socket()
        self._open_button()
        listen = getattr(self.charger, "on_change", None)
        if callable(listen):  # the driver says when its reading or health changed: no need to poll
            listen(lambda: self.inbox.put(("charger", None)))
        self.remote.open()
        self.notifier.ready(f"Charging control running; {ready}.")

    def _open_control_socket(self) -> None:
        from .control_socket import ControlServer

        path = self.settings.state.control_socket
        self.control_server = ControlServer(path, self._socket_request)
        try:
            self.control_server.start()
        except (OSError, ValueError) as exc:
            log.error("The control socket %s could not be opened (%s): wallbox status/mode/pause will "
                      "not reach this service.", path, exc)

    def _start_sources(self) -> str:
        """Starts the inverter data sources; returns what systemd's status line says about them."""
        f = self.settings.fronius
        ready = ""
        if self.receiver is not None:
            self.receiver.start()
            host, port = self.receiver.address
            log.info("Waiting for inverter pushes by FTP on %s:%d (user %s).", host, port, f.ftp_user)
            ready = f"FTP on port {port}"
        if self.poller is None:
            return ready
        self.poller.start()
        if getattr(f, "source", "push") == "sunspec":
            where = f"{f.sunspec_host}:{f.sunspec_port}"
            log.info("Reading the inverter over Modbus TCP (SunSpec) at %s.", where)
            return f"SunSpec at {where}"
        if self.receiver is not None:
            log.info("Polling the inverter's Solar API at %s as a fallback.", f.solar_api_url)
            return ready
        log.info("Polling the inverter's Solar API at %s.", f.solar_api_url)
        return f"Solar API at {f.solar_api_url}"

    def _open_button(self) -> None:
        b = self.settings.button
        if not b.pin:
            return
        from .button import open_button

        try:
            self.button = open_button(b.pin, on_short_press=lambda: self._post(Request(Command.TOGGLE_PAUSE)),
                                      on_long_press=lambda: self._post(Request(Command.NEXT_MODE)),
                                      on_press=self._button_pressed, long_press_s=b.long_press_s)
            log.info("Front button on BCM%d: short press pauses or resumes, hold %g s for the next mode.",
                     b.pin, b.long_press_s)
        except Exception as exc:  # no button is better than no charging control
            log.error("The front button on BCM%d could not be opened (%s): check [button] pin and "
                      "that the service may use the GPIO (group gpio).", b.pin, exc)

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(("stop", None))  # wake the control thread now, not at the next cycle

    def close(self) -> None:
        """Stops everything; the charger last, so the box is driven until the end."""
        self.notifier.stopping()
        self.remote.close()
        if self.poller:
            self.poller.stop()
        if self.receiver is not None:
            self.receiver.stop()
        if self.control_server is not None:
            self.control_server.stop()
        if self.button is not None:
            self.button.close()
        if self.dimming is not None:
            self.dimming.close(self.wall_clock())
        self.charger.stop()
        if self.display is not None:
            try:
                self.display.close()
            except Exception:  # the screen must not keep the service from stopping
                log.exception("Closing the display failed")
        self.notifier.close()

    def run(self) -> None:
        """The control loop; returns after stop(). It starts with a cycle, so whatever was set up
        since the last one (`wallbox run` opens the screen after the first setpoint) shows at once."""
        self._next_cycle_s = -math.inf
        while not self._stop.is_set():
            timeout = min(self.cycle_s, max(0.0, self._next_cycle_s - self.clock()))
            try:
                item = self.inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            due = item is None   # the deadline came
            while item is not None:
                due = self._handle(item) or due
                try:
                    item = self.inbox.get_nowait()
                except queue.Empty:
                    item = None
            if self._stop.is_set():
                break
            if due or self.clock() >= self._next_cycle_s:
                self.cycle()

    def _handle(self, item) -> bool:
        """Takes one inbox item; True when a cycle must follow now. A status question (the web
        page, MQTT) and a counted rejection change nothing the cycle acts on: they need none."""
        kind, payload = item
        if kind == "measurement":
            self.core.measurement(payload)
            return True
        if kind == "rejected":
            self.core.rejected(*payload)
            return False
        if kind == "command":
            request, done = payload
            try:
                answer = self.core.command(request, self.clocks())
                if request.command != Command.STATUS:
                    self.cycle()   # the change is handed to the wallbox before the answer goes
            except Exception as exc:  # a bad command must not stop the control loop
                log.exception("Command %s failed", request.command)
                answer = {"ok": False, "error": str(exc)}
            done.put(answer)
            return False
        # "wake" (light the screen), "dimming" (an edge), "charger" (a new reading or health): now.
        return kind != "stop"

    # --- the control cycle --------------------------------------------------------------------

    def cycle(self) -> None:
        clocks = self.clocks()
        self.core.charger(self.charger.reading(), self.charger.health())
        if self.dimming is not None:
            from .dimming import allowance_w

            status = self.dimming.poll(clocks.local)
            self.core.allowance(allowance_w(self.core.policy.allowance_w, status, self.dimming.settings))
        switcher = self._switcher
        self.core.phase_switcher(switcher is not None and switcher.can_switch_phases())
        self.charger.set_setpoint(self.core.tick(clocks))
        self._hand_phases(switcher)
        snapshot = self._snapshot_for_screen(clocks)
        self._draw(snapshot)
        self.remote.cycle(snapshot)
        self.notifier.watchdog()
        try:
            self._next_cycle_s = self._next_deadline_s(clocks, snapshot)
        except Exception:  # never a reason to stop the control loop: wake each second, as before
            log.exception("Working out the next control cycle failed; the next one is in 1 s")
            self._next_cycle_s = clocks.mono_s + 1.0

    def _snapshot_for_screen(self, clocks: Clocks):
        """The cycle's one snapshot for the screen and the web page (None when neither is on)."""
        if self.display is None and self.on_frame is None and self.remote.web is None:
            return None
        try:
            return self.snapshot(clocks)
        except Exception:  # a broken screen must never stop the charging control
            log.exception("Making the screen's snapshot failed")
            return None

    def _next_deadline_s(self, clocks: Clocks, snapshot) -> float:
        """When the next cycle is due with nothing arriving (see the module docstring)."""
        now = clocks.mono_s
        due = [self.core.next_deadline_s(clocks), now + CHARGER_LOOK_S]
        if snapshot is not None:
            from display.screens import next_change_s

            due.append(now + next_change_s(snapshot) + DEADLINE_MARGIN_S)
        off_at_s = self.backlight.off_at_s()
        if off_at_s is not None and off_at_s > now and snapshot is not None:
            due.append(off_at_s + DEADLINE_MARGIN_S)
        watchdog_s = self.notifier.watchdog_interval_s
        if watchdog_s is not None:
            due.append(now + watchdog_s / 2)
        return max(min(due), now + MIN_SLEEP_S)

    def _hand_phases(self, switcher) -> None:
        """1p/3p: the core decides, the driver pauses, switches and resumes (and writes the phase
        setting again after a reconnect), so a decision is handed over once."""
        wanted = self.core.phases_wanted
        if switcher is not None and wanted is not None and wanted != self._phases_handed:
            switcher.set_phases(wanted)
            self._phases_handed = wanted

    def snapshot(self, clocks: Clocks | None = None):
        return self.core.status(clocks or self.clocks()).snapshot(
            version=__version__, ip_address=self._ip_address, backlight_on=self.backlight.is_on(),
            settings_error=self.settings_error)

    def status(self) -> dict:
        return self.core.status(self.clocks()).as_dict()

    def _draw(self, snapshot) -> None:
        if snapshot is None or (self.display is None and self.on_frame is None):
            return
        try:
            from display.screens import render

            lit = snapshot.backlight_on
            image = render(snapshot)
            if self.display is not None:
                if lit != self._backlight_shown:
                    self.display.set_backlight(lit)
                    self._backlight_shown = lit
                if image is not self._image_shown:
                    self.display.show(image)
                    self._image_shown = image
            if self.on_frame is not None:
                self.on_frame(image)
        except Exception:  # a broken screen must never stop the charging control
            log.exception("Drawing the screen failed")
