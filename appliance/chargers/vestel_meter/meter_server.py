"""The emulated PRO380 meter: a pymodbus RTU server on the meter-bus port, in its own thread.

It runs on its own asyncio loop in its own thread, so a stalled control loop never silences the
meter: a silent meter makes the box fault (solid red LED, no charging). Each answer asks
`values()` for what to report at that moment; that callable must be quick and must not raise
(it falls back to the pause posture inside the charger).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ...modbus_server_thread import ModbusServerThread, ServerStartError
from . import pro380

log = logging.getLogger("appliance.vestel_meter")


class MeterServer:
    def __init__(self, port: str, values: Callable[[], pro380.MeterValues], *, baudrate: int = 9600,
                 parity: str = "E", stopbits: int = 1, clock: Callable[[], float] = time.monotonic):
        self.port = port
        self.baudrate, self.parity, self.stopbits = baudrate, parity, stopbits
        self._values = values
        self._clock = clock
        self._serving = ModbusServerThread("meter-server")
        self.last_poll_at: float | None = None   # clock time of the last read of the currents
        self.polls_answered = 0
        self.last_reported_a: float | None = None
        self.error: str | None = None

    def describe(self) -> str:
        return f"{self.port} {self.baudrate} 8{self.parity}{self.stopbits}"

    def _device(self):
        from pymodbus.simulator import DataType, SimData, SimDevice

        blocks = [SimData(address=start, count=count, values=0, datatype=DataType.REGISTERS)
                  for start, count in (pro380.INSTANT_BLOCK, pro380.ENERGY_BLOCK)]
        return SimDevice(id=pro380.UNIT_ID, simdata=blocks, action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        from pymodbus.constants import ExcCodes

        if function_code not in (3, 4) or set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION   # a meter is read, never written
        if not pro380.in_map(address, count):
            return ExcCodes.ILLEGAL_ADDRESS
        values = self._values()
        words = pro380.meter_words(values)
        for a in range(address, address + count):
            registers[a - start_address] = words.get(a, 0)
        if address <= pro380.CURRENT_L1 < address + count:
            self.last_poll_at = self._clock()
            self.polls_answered += 1
            self.last_reported_a = values.currents_a[0]
        return None

    def start(self) -> None:
        """Serves from its own thread; a port that cannot be opened is reported through `error`
        (and the charger's health), never raised: the runtime restarts the service."""
        if self._serving.running:
            return
        from pymodbus.server import ModbusSerialServer

        def make():
            return ModbusSerialServer(self._device(), port=self.port, baudrate=self.baudrate, bytesize=8,
                                      parity=self.parity, stopbits=self.stopbits, reconnect_delay=1)

        try:
            self._serving.start(make)
        except ServerStartError as exc:
            self.error = (f"The meter bus port {self.describe()} could not be opened ({exc}): "
                          "check serial_port in [wallbox] and the RS-485 converter.")
            log.error(self.error)

    def stop(self) -> None:
        self._serving.stop(5.0)
