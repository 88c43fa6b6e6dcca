"""The appliance service: inverter data in, policy, wallbox setpoint and screen out.

One control thread owns the policy. Everything else talks to it through a queue: the FTP receiver
and the Solar API poller hand in measurements, the button and the control socket hand in commands.
The control thread decides at once when a measurement arrives (so a drop in PV lowers the current
in the same cycle) and at least once a second otherwise (so data going stale is noticed).
The wallbox link keeps its own heartbeat thread; the control loop only tells it the setpoint.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from . import __version__
from .config import Settings
from .policy.control import NEXT_MODE, Controller, Inputs, PolicySettings, fmt_kw, mode_in_force, next_window_start
from .sources.fronius import Measurement, SolarApiPoller
from .sources.ftp_receiver import FtpReceiver
from .control_socket import ControlServer
from .sdnotify import SystemdNotifier
from .sessions import SessionTracker
from .state import ApplianceState, StateStore, apply_command
from .chargers.vestel_ems import VestelClient, WallboxLink

log = logging.getLogger("appliance")

CYCLE_S = 1.0
WALLBOX_STATUS_STALE_S = 10.0


@dataclass
class Readings:
    """The newest inverter data, kept per kind: a PAC-only push carries PV but no grid meter."""

    pv_w: float | None = None
    pv_at_s: float | None = None
    grid_w: float | None = None
    load_w: float | None = None
    grid_at_s: float | None = None
    source: str = ""

    def take(self, m: Measurement) -> None:
        self.pv_w, self.pv_at_s, self.source = m.pv_w, m.received_at, m.source
        if m.kind == "powerflow":
            self.grid_w, self.load_w, self.grid_at_s = m.grid_w, m.load_w, m.received_at


class Service:
    """Wires sources -> control -> wallbox and screen. `run()` blocks until `stop()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: VestelClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] | None = None,
        epoch_clock: Callable[[], float] = time.time,
        display_backend: Any = None,
        on_frame: Callable[[Any], None] | None = None,
        notifier: SystemdNotifier | None = None,
        link_options: dict | None = None,
        settings_error: str | None = None,
        policy_overrides: dict | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.tz = ZoneInfo(settings.control.timezone) if settings.control.timezone else None
        self.wall_clock = wall_clock or (lambda: datetime.now(self.tz).astimezone(self.tz))
        self.policy = PolicySettings.from_settings(settings)
        if policy_overrides:
            self.policy = replace(self.policy, **policy_overrides)
        self.controller = Controller(self.policy)
        self.readings = Readings()
        self.inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.notifier = notifier or SystemdNotifier()
        self.settings_error = settings_error

        w = settings.wallbox
        if client is None:
            client = (VestelClient.tcp(w.host, w.port, w.unit_id) if w.transport == "tcp" else
                      VestelClient.rtu(w.serial_port, w.baudrate, w.parity, w.stopbits, w.unit_id))
        self.link = WallboxLink(client, failsafe_current_a=settings.failsafe_current_a,
                                failsafe_timeout_s=w.failsafe_timeout_s, clock=clock, **(link_options or {}))
        f = settings.fronius
        self.receiver = FtpReceiver(
            host=f.ftp_host, port=f.ftp_port, user=f.ftp_user, password=f.ftp_password,
            allowed_ips=f.allowed_ips, on_measurement=self._measurement_arrived,
            on_rejected=self._push_rejected, clock=clock,
        )
        self.poller = (SolarApiPoller(f.solar_api_url, self._measurement_arrived, self._push_rejected,
                                      interval_s=f.solar_api_interval_s, clock=clock)
                       if f.solar_api_url else None)
        self.display = display_backend
        self.on_frame = on_frame
        from .button import BacklightTimer

        self.backlight = BacklightTimer(settings.display.backlight_timeout_s, clock)
        self._backlight_shown: bool | None = None
        self.button = None

        self.epoch_clock = epoch_clock
        state_dir = Path(settings.state.dir)
        self.store = StateStore(state_dir, settings.control.mode)
        self.state: ApplianceState = self.store.load()
        self.sessions = SessionTracker(state_dir / "sessions.csv", clock_wall=self.wall_clock)
        self.control_server = ControlServer(settings.state.control_socket, self._socket_request)
        self.decision = None
        self.rejected_pushes = 0
        self.accepted_pushes = 0
        self.highest_setpoint_a = 0
        self._data_state: str | None = None     # "fresh" / "stale" / "none": log on change only
        self._logged_setpoint: int | None = None
        self._started_s = clock()
        self._last_cycle_s = -math.inf
        self._ip_address = _local_ip()

    # --- inputs from other threads ------------------------------------------------------------

    def _measurement_arrived(self, m: Measurement) -> None:
        self.inbox.put(("measurement", m))

    def _push_rejected(self, source: str, reason: str) -> None:
        # The receiver and poller already log what and where; here it is counted.
        self.inbox.put(("rejected", (source, reason)))

    def _post(self, name: str) -> None:
        """A command from the button: queued for the control thread, which redraws at once."""
        self.inbox.put(("command", (name, {}, queue.Queue(maxsize=1))))

    def _button_pressed(self) -> None:
        if self.backlight.wake():
            self.inbox.put(("wake", None))

    def _socket_request(self, request: dict) -> dict:
        args = {k: v for k, v in request.items() if k != "command"}
        return self.command(request["command"], **args)

    def command(self, name: str, **args) -> dict:
        """Run a command (from the button or the control socket) in the control thread; wait for it."""
        done: queue.Queue = queue.Queue(maxsize=1)
        self.inbox.put(("command", (name, args, done)))
        try:
            return done.get(timeout=5)
        except queue.Empty:
            return {"ok": False, "error": "The service did not answer within 5 s."}

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        log.info("Wallbox appliance %s starting: allowance %s, %d phases x %g V, failsafe %d A after %d s.",
                 __version__, fmt_kw(self.settings.grid.allowance_w), self.settings.grid.phases,
                 self.settings.grid.voltage_v, self.settings.failsafe_current_a,
                 self.settings.wallbox.failsafe_timeout_s)
        # The wallbox first: its failsafe registers are set before anything else happens.
        self.link.start()
        self.receiver.start()
        host, port = self.receiver.address
        log.info("Waiting for inverter pushes by FTP on %s:%d (user %s).", host, port,
                 self.settings.fronius.ftp_user)
        if self.poller:
            self.poller.start()
            log.info("Polling the inverter's Solar API at %s as a fallback.", self.settings.fronius.solar_api_url)
        try:
            self.control_server.start()
        except (OSError, ValueError) as exc:
            log.error("The control socket %s could not be opened (%s): wallbox status/mode/pause will "
                      "not reach this service.", self.settings.state.control_socket, exc)
        b = self.settings.button
        if b.pin:
            from .button import open_button

            try:
                self.button = open_button(b.pin, on_short_press=lambda: self._post("toggle_pause"),
                                          on_long_press=lambda: self._post("next_mode"),
                                          on_press=self._button_pressed, long_press_s=b.long_press_s)
                log.info("Front button on BCM%d: short press pauses or resumes, hold %g s for the next mode.",
                         b.pin, b.long_press_s)
            except Exception as exc:  # no button is better than no charging control
                log.error("The front button on BCM%d could not be opened (%s): check [button] pin and "
                          "that the service may use the GPIO (group gpio).", b.pin, exc)
        if self.state.mode != self.settings.control.mode or self.state.paused:
            log.info("Restored from %s: mode %s%s.", self.store.path, self.state.mode,
                     ", paused" if self.state.paused else "")
        self.notifier.ready(f"Charging control running; FTP on port {port}.")

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.notifier.stopping()
        if self.poller:
            self.poller.stop()
        self.receiver.stop()
        self.control_server.stop()
        if self.button is not None:
            self.button.close()
        self.link.stop()
        if self.display is not None:
            try:
                self.display.close()
            except Exception:  # the screen must not keep the service from stopping
                log.exception("Closing the display failed")

    def run(self) -> None:
        """The control loop; returns after stop()."""
        while not self._stop.is_set():
            timeout = max(0.0, self._last_cycle_s + CYCLE_S - self.clock())
            try:
                item = self.inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                self._handle(item)
                try:
                    item = self.inbox.get_nowait()
                except queue.Empty:
                    item = None
            if self._stop.is_set():
                break
            self.cycle()

    def _handle(self, item) -> None:
        kind, payload = item
        if kind == "measurement":
            self.readings.take(payload)
            self.accepted_pushes += 1
        elif kind == "rejected":
            self.rejected_pushes += 1
        elif kind == "wake":
            self.cycle()  # light the screen now, not at the next tick
        elif kind == "command":
            name, args, done = payload
            try:
                answer = self._run_command(name, **args)
            except Exception as exc:  # a bad command must not stop the control loop
                log.exception("Command %s failed", name)
                answer = {"ok": False, "error": str(exc)}
            done.put(answer)

    # --- commands -----------------------------------------------------------------------------

    def _run_command(self, name: str, **args) -> dict:
        if name == "status":
            return {"ok": True, **self.status()}
        if name == "next_mode":       # the button's long press
            name, args = "mode", {"mode": NEXT_MODE[self.state.mode]}
        if name == "toggle_pause":    # the button's short press
            if self.paused:
                name, args = "resume", {}
            else:
                name, args = "pause", {"minutes": self.settings.button.pause_minutes or None}
        if name not in ("mode", "pause", "resume"):
            return {"ok": False, "error": f"Unknown command {name!r}."}
        if name == "mode" and args.get("mode") not in NEXT_MODE:
            return {"ok": False, "error": f"Unknown mode {args.get('mode')!r}: use fast, pv, minpv or off."}
        new, answer = apply_command(self.state, {"command": name, **args}, now_epoch_s=self.epoch_clock())
        self._set_state(new)
        if name == "mode":
            log.info("Mode is now %s (was %s).", new.mode, answer.get("previous_mode"))
        elif name == "pause":
            until = (f"until {datetime.fromtimestamp(new.pause_until_epoch_s, self.tz):%H:%M}"
                     if new.pause_until_epoch_s else "until resumed")
            log.info("Paused %s: charging current 0 A.", until)
        elif answer.get("was_paused"):
            log.info("Resumed: charging in mode %s.", new.mode)
        self.cycle()
        return answer

    def _set_state(self, new: ApplianceState) -> None:
        self.state = new
        try:
            self.store.save(new)
        except OSError as exc:
            log.error("Could not save mode and pause to %s (%s): they hold until the next restart only. "
                      "Check state.dir in the settings.", self.store.path, exc.strerror or exc)

    @property
    def base_mode(self) -> str:
        return self.state.mode

    @property
    def paused(self) -> bool:
        return self.state.pause_active(self.epoch_clock())

    # --- the control cycle --------------------------------------------------------------------

    def cycle(self) -> None:
        now = self.clock()
        dt_s = now - self._last_cycle_s if math.isfinite(self._last_cycle_s) else 0.0
        self._last_cycle_s = now
        expired = self.state.expire(self.epoch_clock())
        if expired != self.state:
            self._set_state(expired)
            log.info("Pause over: charging again in mode %s.", expired.mode)
        local_now = self.wall_clock()
        mode, window = mode_in_force(self.base_mode, self.settings.control.schedule, local_now)
        status = self.link.status
        status_age = self.link.status_age_s
        wallbox_ok = self.link.connected and status is not None and status_age is not None \
            and status_age < WALLBOX_STATUS_STALE_S
        r = self.readings
        inputs = Inputs(
            now_s=now, mode=mode, paused=self.paused,
            pv_w=r.pv_w, pv_at_s=r.pv_at_s, grid_w=r.grid_w, grid_at_s=r.grid_at_s,
            car_w=float(status.power_w) if wallbox_ok else 0.0,
            car_connected=status.car_connected if wallbox_ok else None,
            charger_limit_a=status.limit_a if status is not None else None,
        )
        previous = self.controller.setpoint_a
        decision = self.controller.decide(inputs)
        self.decision = decision
        self._log_data_state(now, decision)
        if decision.setpoint_a != self._logged_setpoint:
            was = "" if self._logged_setpoint is None else f" (was {previous} A)"
            why, _, later = decision.reason.partition("; raising to ")
            later = f"; {later.replace(' in ', ' allowed in ', 1)}" if later else ""
            log.info("%s -> %d A%s%s", why, decision.setpoint_a, was, later)
            self._logged_setpoint = decision.setpoint_a
        self.link.set_setpoint(decision.setpoint_a)
        self.highest_setpoint_a = max(self.highest_setpoint_a, decision.setpoint_a)
        self._track_session(local_now, status if wallbox_ok else None, dt_s)
        self._draw(local_now, window)
        self.notifier.watchdog()

    def _track_session(self, local_now: datetime, status, dt_s: float) -> None:
        car_w = float(status.power_w) if status else 0.0
        d = self.decision
        pv_w = d.pv_counted_w if d else 0.0
        r = self.readings
        if d and d.data_fresh and r.grid_w is not None:
            house_w = r.grid_w + pv_w - car_w       # grid + PV = house + car
        else:
            house_w = self.policy.house_base_load_w
        pv_to_car_w = min(car_w, max(0.0, pv_w - house_w))
        try:
            self.sessions.update(
                now=local_now, car_connected=status.car_connected if status else None,
                meter_wh=status.meter_wh if status else None,
                current_a=max(status.currents_a) if status else 0.0,
                car_w=car_w, pv_to_car_w=pv_to_car_w, dt_s=dt_s)
        except OSError as exc:
            log.error("Could not record the charging session in %s (%s).", self.sessions.csv_path,
                      exc.strerror or exc)

    def _log_data_state(self, now: float, decision) -> None:
        r = self.readings
        if decision.data_fresh:
            state = "fresh"
        elif r.pv_at_s is None:
            state = "none"
        else:
            state = "stale"
        if state == self._data_state:
            return
        if state == "fresh" and self._data_state == "none":
            log.info("First inverter data arrived (%s): PV %s.", r.source, fmt_kw(r.pv_w or 0))
        elif state == "fresh" and self._data_state is not None:
            log.info("Inverter data arrives again (%s): PV %s counts again.", r.source, fmt_kw(r.pv_w or 0))
        elif state == "stale":
            log.warning("Inverter data is %.0f s old (limit %.0f s): allowance only, %d A.",
                        now - r.pv_at_s, self.policy.stale_after_s, decision.setpoint_a)
        elif state == "none":
            log.warning("No inverter data yet: allowance only, %d A. Check the inverter's Push Service "
                        "(server, port %d, user and password).", decision.setpoint_a,
                        self.receiver.address[1])
        self._data_state = state

    # --- what the screen and `wallbox status` show --------------------------------------------

    def snapshot(self, local_now: datetime | None = None, window=None):
        from display.snapshot import Snapshot

        local_now = local_now or self.wall_clock()
        d = self.decision
        status = self.link.status
        r = self.readings
        now = self.clock()
        pv_age = None if r.pv_at_s is None else now - r.pv_at_s
        waiting = None
        pause_left = None
        schedule_start = None
        if d is not None and d.setpoint_a == 0:
            if self.paused:
                waiting = "paused"
                pause_left = self.state.pause_remaining_s(self.epoch_clock())
            elif d.mode == "off":
                upcoming = next_window_start(self.settings.control.schedule, local_now)
                if upcoming is not None and window is None:
                    waiting, schedule_start = "schedule", f"{upcoming:%H:%M}"
                else:
                    waiting = "off"
            elif d.waiting_for == "sun":
                waiting = "sun"
        wallbox_offline = not self.link.connected and (now - self._started_s > 5 or self.link.last_error)
        return Snapshot(
            now=local_now.replace(tzinfo=None), version=__version__, ip_address=self._ip_address,
            starting=not self.link.connected and not wallbox_offline,
            mode=d.mode if d else self.base_mode,
            surplus_estimated=bool(d and d.surplus_estimated),
            car_connected=status.car_connected if status and self.link.connected else None,
            # Told 0 A, the car stops within seconds: the screen says so at once, not at the next read.
            charging=bool(status and status.charging and self.link.connected and d and d.setpoint_a > 0),
            setpoint_a=d.setpoint_a if d else 0,
            current_a=max(status.currents_a) if status else 0.0,
            car_power_w=float(status.power_w) if status else 0.0,
            pv_w=r.pv_w, pv_age_s=pv_age, grid_w=r.grid_w,
            allowance_w=self.settings.grid.allowance_w,
            budget_w=d.budget_w if d else self.settings.grid.allowance_w,
            waiting_for=waiting, schedule_start=schedule_start, pause_remaining_s=pause_left,
            inverter_stale=bool(d and not d.data_fresh),
            wallbox_offline=bool(wallbox_offline),
            settings_error=self.settings_error,
            start_needs_w=self.policy.min_current_a * self.policy.watts_per_amp,
            surplus_w=d.surplus_w if d else None,
            stale_after_s=self.policy.stale_after_s,
            backlight_on=self.backlight.is_on(),
        )

    def _draw(self, local_now: datetime, window) -> None:
        if self.display is None and self.on_frame is None:
            return
        try:
            from display.screens import render

            lit = self.backlight.is_on()
            image = render(self.snapshot(local_now, window))
            if self.display is not None:
                if lit != self._backlight_shown:
                    self.display.set_backlight(lit)
                    self._backlight_shown = lit
                self.display.show(image)
            if self.on_frame is not None:
                self.on_frame(image)
        except Exception:  # a broken screen must never stop the charging control
            log.exception("Drawing the screen failed")

    def status(self) -> dict:
        d = self.decision
        s = self.link.status
        r = self.readings
        now = self.clock()
        return {
            "mode": self.base_mode,
            "mode_in_force": d.mode if d else self.base_mode,
            "paused": self.paused,
            "pause_until_epoch_s": self.state.pause_until_epoch_s if self.paused else None,
            "setpoint_a": d.setpoint_a if d else None,
            "reason": d.reason if d else "starting",
            "budget_w": d.budget_w if d else None,
            "pv_w": r.pv_w,
            "pv_age_s": None if r.pv_at_s is None else round(now - r.pv_at_s, 1),
            "grid_w": r.grid_w,
            "wallbox_connected": self.link.connected,
            "wallbox_error": self.link.last_error,
            "car_connected": s.car_connected if s else None,
            "car_w": s.power_w if s else None,
            "meter_wh": s.meter_wh if s else None,
            "pushes_accepted": self.accepted_pushes,
            "pushes_rejected": self.rejected_pushes,
            "session_energy_wh": round(self.sessions.current.energy_wh) if self.sessions.current else None,
        }


def _local_ip() -> str | None:
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


def run_service(settings: Settings, config_path: str | None = None) -> int:
    """`wallbox run`: runs until SIGTERM or Ctrl-C, then stops cleanly with exit code 0."""
    try:
        display = make_display(settings)
    except Exception as exc:  # no screen is better than no charging control
        log.error("The display could not be started (%s): running without it. Check [display] in the "
                  "settings and the LCD wiring.", exc)
        display = None
    service = Service(settings, display_backend=display)

    def on_signal(signum, _frame):
        log.info("Received %s: stopping.", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.start()
        service.run()
    finally:
        service.close()
    log.info("Stopped.")
    return 0


def run_with_invalid_settings(config_path: str, problems: list[str]) -> int:
    """Under systemd: show "settings invalid" on the screen and wait, touching nothing else.

    The wallbox is left alone (if it was configured before, its own failsafe applies); restarting in
    a loop would only make the screen flicker. The user fixes the file and restarts the appliance.
    """
    import tomllib

    from .config import ConfigError, DisplaySettings, parse_settings

    display_settings = DisplaySettings()
    try:
        raw = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        only_display = {"display": raw.get("display", {}), "fronius": {"ftp_password": "-"}}
        display_settings = parse_settings(only_display).display
    except (OSError, ValueError, ConfigError, AttributeError):
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

            display.show(render(Snapshot(now=datetime.now(), version=__version__, ip_address=_local_ip(),
                                         settings_error=message)))
    except Exception as exc:
        log.error("The display could not show the problem either (%s).", exc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    notifier = SystemdNotifier()
    notifier.ready(f"Settings invalid: {first}")
    while not stop.wait(min(5.0, (notifier.watchdog_interval_s or 10.0) / 3)):
        notifier.watchdog()
    notifier.stopping()
    if display is not None:
        display.close()
    return 0
