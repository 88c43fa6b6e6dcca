"""Reads the box's CN28 LOG console through pyserial in its own thread.

Once a burst interval it writes one byte (the box answers any byte with a burst of lines); at the
next interval it reads that burst in one go and folds every known line into a `BoxLog` snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .log_parser import BoxLog, LineAssembler, fold, parse_line

log = logging.getLogger("appliance.vestel_meter")

OPEN_BURST = b"\r\n"


class LogReader:
    BURST_S = 0.6   # a burst of about 500 bytes takes about this long at 9600 baud
    # At this interval or below (the grant is moving) a burst is read as soon as it has come, not at
    # the next interval: the meter sees a new grant 0.6 s after asking, not a second later.
    READ_EARLY_UP_TO_S = 1.5

    def __init__(self, port: str, *, baudrate: int = 9600, burst_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, time_scale: float = 1.0,
                 interval_s: Callable[[], float] | None = None):
        self.port = port
        self.baudrate = baudrate
        self.burst_interval_s = burst_interval_s
        # Seconds until the next burst, asked after each one (the charger reads slowly while the box
        # holds and quickly while its grant is on the move); the fixed interval without it.
        self.interval_s = interval_s or (lambda: self.burst_interval_s)
        self._hurry = threading.Event()
        self._clock = clock
        self._time_scale = time_scale
        self._assembler = LineAssembler()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.box_log = BoxLog()
        self.last_line_at: float | None = None   # clock time of the last line we understood
        self.lines_known = 0
        self.lines_ignored = 0
        self.error: str | None = None
        self.after_burst: Callable[[], None] | None = None   # MeterCharger.on_change's comparison

    def describe(self) -> str:
        return f"{self.port} {self.baudrate} 8N1"

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="log-reader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._hurry.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)

    def hurry(self) -> None:
        """Ask for the next burst now (a new setpoint: the grant is about to move)."""
        self._hurry.set()

    def feed(self, data: bytes, at: float | None = None) -> None:
        """Bytes of the current burst (the thread calls this; tests may too); `at`: the clock time
        its lines count from (now when not given)."""
        for line in self._assembler.feed(data):
            record = parse_line(line)
            if record is None:
                self.lines_ignored += 1
                continue
            self.box_log = fold(self.box_log, record)
            self.lines_known += 1
            self.last_line_at = self._clock() if at is None else at

    def _open(self):
        import serial

        try:
            port = serial.Serial(self.port, self.baudrate, bytesize=8, parity="N", stopbits=1,
                                 timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            message = (f"The LOG port {self.describe()} could not be opened ({exc}): check log_port in "
                       "[wallbox] and the RS-485 module on the Pi's UART.")
            if message != self.error:
                log.error(message)
            self.error = message
            return None
        self.error = None
        return port

    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(2.0 / self._time_scale)
                continue
            try:
                self._bursts(port)
            except (OSError, ValueError) as exc:
                self.error = f"Reading the LOG port {self.describe()} failed ({exc}); reopening it."
                log.warning(self.error)
            finally:
                port.close()

    def _bursts(self, port) -> None:
        """One wakeup a burst while the box holds: read the last burst whole (it has long arrived),
        ask for the next one, sleep until it is due; while the grant moves, a second wakeup reads
        each burst as soon as it has come. A burst's lines count from the moment its byte was
        written, the earliest they can have come, so their age is never understated. Reading the
        bytes as they trickled in woke the thread every few bytes (about 8 times a second)."""
        import serial

        port.timeout = 0   # reads return what has come; the thread sleeps on its own timer
        asked_at: float | None = None
        try:
            while not self._stop.is_set():
                if asked_at is not None:
                    self._drain(port, asked_at)
                self._assembler.start_burst()
                port.write(OPEN_BURST)
                asked_at, written = self._clock(), time.monotonic()
                interval_s = self.interval_s()
                if interval_s <= self.READ_EARLY_UP_TO_S:
                    self._stop.wait(self.BURST_S / self._time_scale)
                    self._drain(port, asked_at)
                self._hurry.wait(max(0.0, written + interval_s / self._time_scale - time.monotonic()))
                self._hurry.clear()
                # Hurried right after asking: give that burst the time it takes to come.
                self._stop.wait(max(0.0, written + self.BURST_S / self._time_scale - time.monotonic()))
        except serial.SerialException as exc:
            raise OSError(str(exc)) from exc

    def _drain(self, port, asked_at: float) -> None:
        """Feed the burst asked for at `asked_at`."""
        data = port.read(max(1, port.in_waiting))
        if data:
            self.feed(data, at=asked_at)
            self._tell()

    def _tell(self) -> None:
        """Runs the after_burst listener; a broken one is logged and never stops the reading."""
        try:
            if self.after_burst is not None:
                self.after_burst()
        except Exception:
            log.exception("A wallbox listener failed")
