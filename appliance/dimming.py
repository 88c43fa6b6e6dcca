"""Grid operator dimming (section 14a of the German energy law): a contact caps the grid allowance.

Since 2024 a new wallbox above 4.2 kW must accept dimming from the grid operator's control box:
while its relay contact is active, the wallbox may draw at most `dimmed_allowance_w` (4200 W) from
the grid. PV comes on top as usual: safety rule 2 counts allowance + fresh PV, and only the
allowance shrinks.

Wiring: the control box's potential-free relay contact between a GPIO input and ground; the input's
internal pull-up holds it high while the contact is open. `[dimming] active_level = "low"` (the
default) then means "dimmed while the contact is closed"; "high" suits a contact that opens to dim.
`pin = 0` turns dimming off.

The hardware sits behind one narrow seam, `DimmingPin` (read the level, be told of edges):
`GpioDimmingPin` implements it with RPi.GPIO (imported only when a pin is configured),
`FakeDimmingPin` in tests. On an edge the runtime puts an event into its inbox; the control cycle
that handles it calls `DimmingMonitor.poll`, so the new allowance applies in the same cycle as the
edge. The runtime also polls on every cycle, and a cycle runs at least every 5 s (the control
thread's look at the wallbox): a missed edge costs at most 5 s.

Safe side: a configured input that cannot be read counts as dimmed, and the status carries a
problem sentence for the screen and the log until it can be read again (the evidence file records
only what the contact showed).

Evidence: each dimming period is logged with start, end and duration and appended to
`dimming.csv` in the state directory (columns start,end,duration_s; ISO 8601 times). The append
writes a new copy of the file and renames it over the old one, so a failed write leaves the old
file whole.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

log = logging.getLogger(__name__)

CSV_NAME = "dimming.csv"
CSV_HEADER = "start,end,duration_s\n"


class ActiveLevel(enum.Enum):
    LOW = "low"    # dimmed while the input is pulled low (contact to ground closed)
    HIGH = "high"  # dimmed while the input is high


@dataclass(frozen=True)
class DimmingSettings:
    pin: int = 0                     # BCM number; 0 = no dimming input
    active_level: ActiveLevel = ActiveLevel.LOW
    dimmed_allowance_w: float = 4200.0

    @property
    def configured(self) -> bool:
        return self.pin > 0

    @classmethod
    def from_settings(cls, settings) -> "DimmingSettings":
        """From the settings file's [dimming] table (appliance.config.Settings)."""
        d = settings.dimming
        return cls(pin=d.pin, active_level=ActiveLevel(d.active_level),
                   dimmed_allowance_w=float(d.dimmed_allowance_w))


@dataclass(frozen=True)
class DimmingStatus:
    configured: bool
    active: bool                     # the dimmed allowance applies now
    since: datetime | None = None    # when the current dimming period began
    problem: str | None = None       # the input cannot be read (then active is True)


@dataclass(frozen=True)
class DimmingPeriod:
    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def allowance_w(normal_allowance_w: float, status: DimmingStatus,
                settings: DimmingSettings) -> float:
    """The grid allowance in force: the dimmed one while dimming is active (never more than the
    normal one)."""
    if status.active:
        return min(normal_allowance_w, settings.dimmed_allowance_w)
    return normal_allowance_w


class DimmingPin(Protocol):
    """The seam between the dimming logic and the hardware."""

    def read_high(self) -> bool:
        """The input's level (True = high); raises OSError when it cannot be read."""

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` (from any thread) whenever the level may have changed."""

    def close(self) -> None:
        """Release the pin."""


class GpioDimmingPin:
    """A BCM-numbered input with the internal pull-up, via RPi.GPIO or rpi-lgpio."""

    def __init__(self, bcm_pin: int) -> None:
        try:
            import RPi.GPIO as GPIO
        except (ImportError, RuntimeError) as error:
            raise OSError(
                f"The grid operator's dimming input on BCM{bcm_pin} cannot be used: {error}. On "
                f"the Pi install RPi.GPIO (or rpi-lgpio on bookworm); without the input set "
                f"[dimming] pin = 0.") from error
        self._gpio = GPIO
        self.bcm_pin = bcm_pin
        GPIO.setmode(GPIO.BCM)
        GPIO.setup(bcm_pin, GPIO.IN, pull_up_down=GPIO.PUD_UP)
        self._edge_detect = False

    def read_high(self) -> bool:
        try:
            return self._gpio.input(self.bcm_pin) == self._gpio.HIGH
        except RuntimeError as error:
            raise OSError(str(error)) from error

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        if self._edge_detect:
            self._gpio.remove_event_detect(self.bcm_pin)
            self._edge_detect = False
        if callback is not None:
            self._gpio.add_event_detect(self.bcm_pin, self._gpio.BOTH,
                                        callback=lambda _channel: callback())
            self._edge_detect = True

    def close(self) -> None:
        self.set_edge_callback(None)
        self._gpio.cleanup(self.bcm_pin)


class FakeDimmingPin:
    """A dimming input for tests and the demo: drive its level or break it from code."""

    def __init__(self, high: bool = True) -> None:
        self._high = high
        self.broken = False
        self._callback: Callable[[], None] | None = None
        self.closed = False

    def read_high(self) -> bool:
        if self.broken:
            raise OSError("input/output error reading the GPIO line")
        return self._high

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def close(self) -> None:
        self.closed = True
        self._callback = None

    def set_high(self, high: bool) -> None:
        """Drive the level; an edge is reported when it changes."""
        if high != self._high:
            self._high = high
            if self._callback is not None:
                self._callback()


def append_period(path: Path, period: DimmingPeriod) -> None:
    """Adds one row to the CSV file in whole lines: a failed or killed write leaves the file whole."""
    from .atomicfile import append_csv_rows

    append_csv_rows(path, ("start", "end", "duration_s"), [{
        "start": period.start.isoformat(), "end": period.end.isoformat(),
        "duration_s": f"{period.duration_s:.0f}"}])


class _UnusablePin:
    """A configured input that could not be opened: every read fails, so it counts as dimmed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def read_high(self) -> bool:
        raise OSError(self.reason)

    def set_edge_callback(self, callback: Callable[[], None] | None) -> None:
        pass

    def close(self) -> None:
        pass


class DimmingMonitor:
    """Reads the input, tracks dimming periods, records each one when it ends."""

    def __init__(self, settings: DimmingSettings, pin: DimmingPin | None, state_dir: Path) -> None:
        self.settings = settings
        self.pin = pin
        self.csv_path = Path(state_dir) / CSV_NAME
        self._since: datetime | None = None
        self._problem: str | None = None
        self._unwritten: list[DimmingPeriod] = []   # periods the card refused: kept, tried again

    @classmethod
    def open(cls, settings: DimmingSettings, state_dir: Path,
             opener: Callable[[int], DimmingPin] = GpioDimmingPin) -> "DimmingMonitor":
        """Opens the configured input; one that cannot be opened counts as dimmed (and is shown
        as a problem) rather than stopping the service."""
        if not settings.configured:
            return cls(settings, None, state_dir)
        try:
            pin: DimmingPin = opener(settings.pin)
        except OSError as error:
            pin = _UnusablePin(str(error))
        return cls(settings, pin, state_dir)

    def attach(self, on_edge: Callable[[], None]) -> None:
        """`on_edge` is called on every edge (the runtime puts an event into its inbox)."""
        if self.pin is not None:
            self.pin.set_edge_callback(on_edge)

    def poll(self, now: datetime) -> DimmingStatus:
        """The status at wall-clock time `now` (local, with time zone): call it in each cycle."""
        if not self.settings.configured or self.pin is None:
            return DimmingStatus(configured=False, active=False)
        if self._unwritten and now.second == 0:   # about once a minute
            self._write_unwritten()
        active, problem = self._read()
        if problem != self._problem:
            if problem:
                log.error("%s", problem)
            else:
                log.info("The grid operator's dimming input on BCM%d can be read again.",
                         self.settings.pin)
            self._problem = problem
        if problem:
            # The contact's state is unknown: dimmed for safety, but the evidence file records
            # only what the contact showed; a period already running stays open.
            return DimmingStatus(True, True, self._since, problem)
        if active and self._since is None:
            self._since = now
            log.warning("Grid operator dimming started at %s: the wallbox gets at most %.1f kW "
                        "from the grid, plus PV.", now.isoformat(timespec="seconds"),
                        self.settings.dimmed_allowance_w / 1000)
        elif not active and self._since is not None:
            self._finish(DimmingPeriod(self._since, now))
            self._since = None
        return DimmingStatus(True, active, self._since, problem)

    def _read(self) -> tuple[bool, str | None]:
        try:
            high = self.pin.read_high()
        except OSError as error:
            return True, (f"The grid operator's dimming input on BCM{self.settings.pin} cannot be "
                          f"read ({error}): charging as if dimmed (at most "
                          f"{self.settings.dimmed_allowance_w / 1000:.1f} kW from the grid). Check "
                          f"the wire from the control box's relay to the input.")
        return high == (self.settings.active_level is ActiveLevel.HIGH), None

    def _finish(self, period: DimmingPeriod) -> None:
        log.warning("Grid operator dimming ended at %s; it began at %s and lasted %.0f s.",
                    period.end.isoformat(timespec="seconds"),
                    period.start.isoformat(timespec="seconds"), period.duration_s)
        self._unwritten.append(period)
        self._write_unwritten()

    def _write_unwritten(self) -> None:
        while self._unwritten:
            period = self._unwritten[0]
            try:
                append_period(self.csv_path, period)
            except OSError as error:
                log.error("The dimming period from %s to %s could not be added to %s (%s): it is kept "
                          "and written when it works again; free space in the state directory or fix "
                          "its permissions.", period.start.isoformat(timespec="seconds"),
                          period.end.isoformat(timespec="seconds"), self.csv_path, error)
                return
            self._unwritten.pop(0)

    def close(self, now: datetime) -> None:
        """Records a dimming period still running (ended by the shutdown) and releases the pin."""
        if self._since is not None:
            self._finish(DimmingPeriod(self._since, now))
            self._since = None
        if self.pin is not None:
            self.pin.close()
