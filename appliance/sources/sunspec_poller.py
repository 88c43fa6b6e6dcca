"""Polls a Fronius inverter (and its meter) over Modbus TCP SunSpec: the same Measurement, the
same callbacks and the same clock rule as the Solar API poller.

One thread owns the Modbus connection. The model chain is walked once after connecting and again
after any failure, so a firmware update that moves the models is picked up by itself.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from .fronius import Measurement
from .sunspec import ModelBlock, SunSpecError, discover, read_figures

from .interval_poller import IntervalPoller

log = logging.getLogger("appliance.sunspec")

SUNSPEC_DEFAULT_INTERVAL_S = 2.0
SUNSPEC_MIN_INTERVAL_S = 0.5


class SunSpecPoller(IntervalPoller):
    """Reads the inverter at ``inverter_unit`` and the meter at ``meter_unit`` every
    ``interval_s``; hands each reading to ``on_measurement`` and each failure, as a sentence
    that names the fix, to ``on_rejected(source, reason)``."""

    def __init__(
        self,
        host: str,
        on_measurement: Callable[[Measurement], None],
        on_rejected: Callable[[str, str], None] | None = None,
        *,
        port: int = 502,
        inverter_unit: int = 1,
        meter_unit: int = 200,
        interval_s: float = SUNSPEC_DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 2.0,
    ) -> None:
        if not host or not host.strip():
            raise ValueError('[fronius] sunspec_host is empty: set the inverter\'s address, '
                             'e.g. sunspec_host = "192.168.178.40".')
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"The SunSpec poll interval {interval_s!r} s must be a positive number.")
        self.host, self.port = host.strip(), int(port)
        self.inverter_unit, self.meter_unit = int(inverter_unit), int(meter_unit)
        self.interval_s = max(float(interval_s), SUNSPEC_MIN_INTERVAL_S)
        self.timeout_s = float(timeout_s)
        self.source = f"sunspec://{self.host}:{self.port}"
        self._on_measurement = on_measurement
        self._on_rejected = on_rejected
        self._clock = clock
        self._lock = threading.Lock()
        self._client = None
        self._models: tuple[dict[int, ModelBlock], dict[int, ModelBlock]] | None = None
        self._last_request_at: float | None = None
        self._init_thread()
        self.polls = 0

    # -- Modbus

    def _connect(self):
        from pymodbus.client import ModbusTcpClient

        if self._client is None:
            self._client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s,
                                           retries=0)
        if not self._client.connected and not self._client.connect():
            raise SunSpecError(f"no Modbus TCP connection to {self.host}:{self.port}: check "
                               "sunspec_host and that Modbus TCP is enabled in the inverter's "
                               "web interface (Communication -> Modbus).")
        return self._client

    def _read(self, unit: int, address: int, count: int) -> list[int] | None:
        from pymodbus.exceptions import ModbusException

        try:
            response = self._connect().read_holding_registers(address, count=count, device_id=unit)
        except ModbusException:
            return None  # no answer from this unit or address: "not there"
        if response.isError():
            return None
        return list(response.registers)

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._models = None

    def models(self) -> tuple[dict[int, ModelBlock], dict[int, ModelBlock]]:
        """The models found at the inverter's and the meter's unit (walked once per connection)."""
        if self._models is None:
            inverter = discover(self._read, self.inverter_unit)
            if not inverter:
                raise SunSpecError(
                    f"no SunSpec data at unit {self.inverter_unit} of {self.host}:{self.port} "
                    "(no \"SunS\" marker at 40000, 0 or 50000): check sunspec_inverter_unit and "
                    "that Modbus TCP is enabled.")
            meter = discover(self._read, self.meter_unit)
            if not meter:
                log.warning("No SunSpec meter at unit %d of %s: the appliance runs without grid "
                            "readings; set [fronius] sunspec_meter_unit to the meter's address "
                            "(200 on GEN24, 240 on some SnapINverters).", self.meter_unit,
                            self.source)
            self._models = (inverter, meter)
        return self._models

    # -- one poll

    def _reject(self, reason: str) -> None:
        log.warning("SunSpec data from %s not read: %s", self.source, reason)
        if self._on_rejected is not None:
            try:
                self._on_rejected(self.source, reason)
            except Exception:
                log.exception("The handler for rejected SunSpec readings failed.")

    def poll_once(self) -> Measurement | None:
        with self._lock:
            now = self._clock()
            if self._last_request_at is not None and now - self._last_request_at < SUNSPEC_MIN_INTERVAL_S:
                return None
            self._last_request_at = now
            self.polls += 1
            try:
                inverter, meter = self.models()
                figures = read_figures(self._read, self.inverter_unit, inverter,
                                       self.meter_unit, meter)
            except SunSpecError as exc:
                self._close()
                self._reject(str(exc))
                return None
            except Exception as exc:  # a device answering nonsense must not stop the polling
                log.exception("Unexpected SunSpec answer from %s.", self.source)
                self._close()
                self._reject(f"the answer could not be read ({exc.__class__.__name__}): check that "
                             "the address is a Fronius inverter with Modbus TCP enabled.")
                return None
            measurement = figures.measurement(source=self.source, received_at=self._clock())
        try:
            self._on_measurement(measurement)
        except Exception:
            log.exception("The handler for SunSpec measurements failed.")
        return measurement

    # -- background polling (appliance.sources.interval_poller)

    thread_name = "sunspec-poller"
    WAIT_STEP_S = 0.2

    def _release(self) -> None:
        with self._lock:
            self._close()
