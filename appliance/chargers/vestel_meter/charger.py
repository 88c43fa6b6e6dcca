"""Meter emulation: drives a basic Vestel EVC04 (no network module) through its Power Optimizer.

The appliance takes the place of the Inepro PRO380 meter the box polls on CN20 and reads the box's
grant from its CN28 LOG console; grant tracking (grant.py) turns the setpoint into the current the
meter reports. Never a PhaseSwitcher: a basic box cannot switch phases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..base import ChargerHealth, ChargerIdentity, ChargerReading, change_watch
from . import grant, pro380
from .log_reader import LogReader
from .meter_server import MeterServer
from .reading import SessionEnergy, car_connected, implausible, reading_from_log

log = logging.getLogger("appliance.vestel_meter")

DIP_LIMITS_A = (16, 20, 25, 32, 40, 63, 80)
# The box must get the pause posture within 15 s of LOG silence: a burst's lines count from the
# moment it was asked for, before the wire went quiet, and the posture reaches the box at its next
# poll (another second).
LOG_STALE_AFTER_S = 13.0
POLLS_MISSING_AFTER_S = 5.0   # the box polls every ~1 s
# LOG bursts: every second while the meter asks the box to move its grant, so that the new grant is
# seen before the box's next evaluation (every 5-10 s) and headroom is never offered twice; every
# 3 s while the box holds or is paused (the reading stays well inside the core's 10 s).
LOG_QUICK_S = 1.0
LOG_SLOW_S = 3.0


class MeterCharger:
    """A basic EVC04 driven by answering its meter polls; see the module text."""

    kind = "meter"
    link_hint = ("Check the RS-485 pair to CN20 (A/B, try swapping), DIP switches 4-5-6 (Power Optimizer on, "
                 "set with the box powered off) and 9600 8E1; and the second pair to CN28 LOG.")

    def __init__(self, serial_port: str, *, baudrate: int = 9600, parity: str = "E", stopbits: int = 1,
                 log_port: str = "/dev/ttyAMA0", log_baudrate: int = 9600, dip_limit_a: int = 16,
                 min_current_a: int = grant.MIN_CURRENT_A, clock: Callable[[], float] = time.monotonic,
                 time_scale: float = 1.0):
        if dip_limit_a not in DIP_LIMITS_A:
            raise ValueError(f"dip_limit_a = {dip_limit_a!r} is not a DIP switch setting of the wallbox; "
                             f"use one of {', '.join(map(str, DIP_LIMITS_A))} (DIP 4-5-6).")
        self.dip_limit_a = dip_limit_a
        self.min_current_a = min_current_a
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted_a: int | None = None     # None = the core has not decided yet
        self._started_at = clock()
        self._last_posture: grant.Posture | None = None
        self._session = SessionEnergy()
        self._session_energy_wh: float | None = None
        self._logged_implausible: set[str] = set()
        self.implausible_count = 0
        self.meter = MeterServer(serial_port, self._meter_values, baudrate=baudrate, parity=parity,
                                 stopbits=stopbits, clock=clock)
        self.log_reader = LogReader(log_port, baudrate=log_baudrate, clock=clock, time_scale=time_scale,
                                    interval_s=self.log_interval_s)

    @classmethod
    def from_settings(cls, settings, clock: Callable[[], float] = time.monotonic) -> "MeterCharger":
        w = settings.wallbox
        return cls(w.serial_port, baudrate=w.baudrate, parity=w.parity, stopbits=w.stopbits,
                   log_port=w.log_port, log_baudrate=w.log_baudrate, dip_limit_a=w.dip_limit_a,
                   min_current_a=w.min_current_a, clock=clock)

    # --- life cycle and commands --------------------------------------------------------------

    def start(self) -> None:
        self._started_at = self._clock()
        self.meter.start()       # answers from the first poll, in the pause posture
        self.log_reader.start()

    def stop(self) -> None:
        self.log_reader.stop()
        self.meter.stop()

    def set_setpoint(self, current_a: int) -> None:
        try:
            amps = int(current_a)
        except (TypeError, ValueError):
            log.error("Setpoint %r is not a number of amps: keeping the pause posture.", current_a)
            amps = 0
        if 0 < amps < self.min_current_a or amps < 0:
            log.error("Setpoint %s A is below the minimum %s A: pausing instead.", amps, self.min_current_a)
            amps = 0
        with self._lock:
            changed = self._wanted_a != min(amps, self.dip_limit_a)
            self._wanted_a = min(amps, self.dip_limit_a)
        if changed:
            self.log_reader.hurry()   # the grant is about to move: look at it now

    # --- the emulated meter -------------------------------------------------------------------

    def log_age_s(self) -> float | None:
        at = self.log_reader.last_line_at
        return None if at is None else self._clock() - at

    def posture(self) -> grant.Posture:
        if self._wanted_a is None:
            return grant.Posture.UNDECIDED
        if self._wanted_a == 0:
            return grant.Posture.PAUSED
        age_s = self.log_age_s()
        if age_s is None or age_s > LOG_STALE_AFTER_S or implausible(self.log_reader.box_log) is not None:
            return grant.Posture.LOG_STALE
        return grant.Posture.TRACKING

    def reported_current_a(self) -> float:
        """What the meter answers now; the pause posture unless tracking is safe."""
        posture = self.posture()
        self._note_posture(posture)
        if posture is not grant.Posture.TRACKING:
            return grant.pause_report_a(self.dip_limit_a)
        return self._tracking_report_a()

    def log_interval_s(self) -> float:
        """Seconds until the next LOG burst: slow only while the report cannot move the grant (the
        box holds at exactly the limit, or charging is paused)."""
        try:
            posture, age_s = self.posture(), self.log_age_s()
            if age_s is None or age_s > LOG_SLOW_S + LOG_QUICK_S:
                return LOG_QUICK_S   # a burst went missing: look again soon, long before it is stale
            if posture is grant.Posture.PAUSED:
                return LOG_SLOW_S
            if posture is grant.Posture.TRACKING and self._tracking_report_a() == float(self.dip_limit_a):
                return LOG_SLOW_S
        except Exception:  # never stop reading the LOG over a bug here
            log.exception("Choosing the LOG interval failed: reading it every %g s.", LOG_QUICK_S)
        return LOG_QUICK_S

    def _tracking_report_a(self) -> float:
        box_log = self.log_reader.box_log
        inputs = grant.GrantInputs(limit_a=self.dip_limit_a, wanted_a=self._wanted_a or 0,
                                   grant_a=box_log.grant_a, car_draw_a=box_log.car_draw_a)
        return grant.reported_current_a(inputs, self.min_current_a)

    def _meter_values(self) -> pro380.MeterValues:
        try:
            amps = self.reported_current_a()
            box_log = self.log_reader.box_log
            self._follow_session(box_log)
            volts = [p.voltage_mv / 1000.0 for p in box_log.phases if p is not None and 180_000 < p.voltage_mv < 270_000]
            energy_kwh = sum(p.energy_wh for p in box_log.phases if p is not None) / 1000.0
            return pro380.MeterValues((amps, amps, amps), voltage_v=max(volts, default=230.0), energy_kwh=energy_kwh)
        except Exception:   # never go silent, never report less than the pause posture on a bug
            log.exception("Computing the meter answer failed: answering the pause posture.")
            pause = grant.pause_report_a(self.dip_limit_a)
            return pro380.MeterValues((pause, pause, pause))

    def _follow_session(self, box_log) -> None:
        # Called once a poll (about a second), so the session start is caught even when nobody reads.
        if self.log_reader.last_line_at is not None and implausible(box_log) is None:
            total_wh = float(sum(p.energy_wh for p in box_log.phases if p is not None))
            self._session_energy_wh = self._session.update(total_wh, car_connected(box_log))

    def _note_posture(self, posture: grant.Posture) -> None:
        if posture is self._last_posture:
            return
        self._last_posture = posture
        if posture is grant.Posture.TRACKING:
            log.info("LOG feedback is there: the emulated meter steers the wallbox's grant to %s A.", self._wanted_a)
        else:
            log.warning(self._pause_sentence(posture))

    def _pause_sentence(self, posture: grant.Posture) -> str:
        age_s = self.log_age_s()
        if posture is grant.Posture.LOG_STALE and age_s is None:
            return ("No LOG lines from the wallbox yet: charging stays paused. Check the LOG wiring "
                    "(CN28 over the second RS-485 pair) and log_port.")
        if posture is grant.Posture.LOG_STALE and implausible(self.log_reader.box_log) is not None:
            return implausible(self.log_reader.box_log).sentence() + " Charging is paused."
        return grant.PAUSE_REASONS[posture].format(age_s=age_s or 0.0, stale_s=LOG_STALE_AFTER_S)

    # --- what the core reads --------------------------------------------------------------------

    def reading(self) -> ChargerReading | None:
        box_log, at = self.log_reader.box_log, self.log_reader.last_line_at
        bad = None if at is None else implausible(box_log)
        if bad is not None:
            self.implausible_count += 1
            if bad.what not in self._logged_implausible:
                self._logged_implausible.add(bad.what)
                log.warning(bad.sentence())
        return self._plain_reading()

    def _plain_reading(self) -> ChargerReading | None:
        """reading() without logging or counting an implausible LOG (on_change looks at every burst)."""
        box_log, at = self.log_reader.box_log, self.log_reader.last_line_at
        if at is None or implausible(box_log) is not None:
            return None
        return reading_from_log(box_log, at, self.dip_limit_a, self._session_energy_wh)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Calls `callback` from the LOG reader's thread, after a burst, when something the core
        decides on changed (see appliance.chargers.base.change_watch)."""
        self.log_reader.after_burst = change_watch(self._plain_reading, self.health, callback)

    def health(self) -> ChargerHealth:
        posture = self.posture()
        polled_at = self.meter.last_poll_at
        since_s = self._clock() - (polled_at if polled_at is not None else self._started_at)
        polled = polled_at is not None and since_s <= POLLS_MISSING_AFTER_S
        problem = None
        if self.meter.error or self.log_reader.error:
            problem = self.meter.error or self.log_reader.error
        elif not polled and since_s > POLLS_MISSING_AFTER_S:
            problem = (f"The wallbox has not polled the emulated meter for {since_s:.0f} s: check A/B on CN20, "
                       "DIP switches 4-5-6 (Power Optimizer on) and the baud rate and parity.")
        elif posture in (grant.Posture.UNDECIDED, grant.Posture.LOG_STALE):
            problem = self._pause_sentence(posture)
        holding = polled and posture in (grant.Posture.TRACKING, grant.Posture.PAUSED)
        return ChargerHealth(connected=polled, holding=holding, problem=problem,
                             setpoint_a=self._wanted_a if holding else None)

    def identity(self) -> ChargerIdentity | None:
        control = self.log_reader.box_log.control
        return ChargerIdentity(
            kind="meter",
            description=(f"Vestel EVC04 (basic) by meter emulation: PRO380 on {self.meter.describe()}, "
                         f"LOG on {self.log_reader.describe()}, DIP limit {self.dip_limit_a} A"),
            model="EVC04 (basic)", phases=None if control is None else control.phases,
            details={"dip_limit_a": self.dip_limit_a},
        )
