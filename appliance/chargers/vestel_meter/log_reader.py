"""Reads the box's CN28 LOG console through pyserial in its own thread.

Once a burst interval it writes one byte (the box answers any byte with a burst of lines), sleeps
while the burst comes, reads it in one go and folds every known line into a `BoxLog` snapshot.
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
    GATHER_S = 0.5   # a burst of about 500 bytes takes about this long at 9600 baud
    GAP_S = 0.2      # bytes still arriving after the gather time: the burst goes on

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

    def feed(self, data: bytes) -> None:
        """Bytes of the current burst (the thread calls this; tests may too)."""
        for line in self._assembler.feed(data):
            record = parse_line(line)
            if record is None:
                self.lines_ignored += 1
                continue
            self.box_log = fold(self.box_log, record)
            self.lines_known += 1
            self.last_line_at = self._clock()

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
        """One burst a cycle with three wakeups: write the byte, sleep while the burst comes, read it
        all at once, check once more for a tail. Reading it as it trickles in woke the thread for
        every few bytes (about 8 times a second)."""
        import serial

        port.timeout = 0   # reads return what has come; the thread sleeps on its own timers
        try:
            while not self._stop.is_set():
                self._drain(port)   # a tail of the last burst still belongs to it
                self._assembler.start_burst()
                port.write(OPEN_BURST)
                next_burst_at = time.monotonic() + self.interval_s() / self._time_scale
                self._stop.wait(self.GATHER_S / self._time_scale)
                while self._drain(port) and not self._stop.is_set() and time.monotonic() < next_burst_at:
                    self._stop.wait(self.GAP_S / self._time_scale)   # still coming: look again
                self._hurry.wait(max(0.0, next_burst_at - time.monotonic()))
                self._hurry.clear()
        except serial.SerialException as exc:
            raise OSError(str(exc)) from exc

    def _drain(self, port) -> bool:
        """Feed what has come; False when nothing had."""
        data = port.read(max(1, port.in_waiting))
        if data:
            self.feed(data)
        return bool(data)
