"""Reads the box's CN28 LOG console through pyserial in its own thread.

Once a burst interval it writes one byte (the box answers any byte with a burst of lines), reads
what comes back until the next interval and folds every known line into a `BoxLog` snapshot.
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
    def __init__(self, port: str, *, baudrate: int = 9600, burst_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, time_scale: float = 1.0):
        self.port = port
        self.baudrate = baudrate
        self.burst_interval_s = burst_interval_s
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
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)

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
                                 timeout=min(0.1, self.burst_interval_s / self._time_scale / 4))
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
        import serial

        window_s = self.burst_interval_s / self._time_scale
        while not self._stop.is_set():
            self._assembler.start_burst()
            try:
                port.reset_input_buffer()
                port.write(OPEN_BURST)
            except serial.SerialException as exc:
                raise OSError(str(exc)) from exc
            ends_at = time.monotonic() + window_s
            while not self._stop.is_set() and time.monotonic() < ends_at:
                try:
                    # Sleep until bytes come or the window ends (not every 0.1 s); a pause between
                    # bytes hands over what has come.
                    port.inter_byte_timeout = 0.02 / self._time_scale
                    port.timeout = max(0.005, ends_at - time.monotonic())
                    data = port.read(512)
                except serial.SerialException as exc:
                    raise OSError(str(exc)) from exc
                if data:
                    self.feed(data)
