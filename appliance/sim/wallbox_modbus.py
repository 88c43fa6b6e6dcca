"""The simulated Vestel EVC04's Modbus side: a pymodbus SimDevice server (TCP or RTU) in its own thread.

Built on pymodbus' SimDevice: the device's registers are laid out from the register map the driver
uses, unlisted addresses inside the map are marked invalid so pymodbus answers ILLEGAL ADDRESS for a
read across them, and the async `action` callback runs the box's model on every request: it fills
in fresh values before a read, applies writes, answers ILLEGAL FUNCTION to anything but functions
3, 4 and 6, and ILLEGAL ADDRESS to the wrong register kind. A trace hook records every request as
it came off the wire, gap-spanning ones included, so tests can check what the driver asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.chargers.vestel_ems import registers as vestel
from appliance.chargers.vestel_ems.registers import HOLDING, INPUT, REGISTER_MAP
from appliance.modbus_server_thread import ModbusServerThread, ServerStartError


@dataclass(frozen=True)
class SimRequest:
    """One request as the server received it."""

    at_s: float  # the box's clock (time.monotonic() unless a test gave one)
    function_code: int
    address: int
    count: int
    values: tuple[int, ...]  # written values (empty for reads)
    unlisted: tuple[int, ...]  # addresses of the request that the map does not list


class ModbusServing:
    """Serves a SimulatedWallbox (the class this is mixed into) over Modbus TCP or RTU."""

    def _init_serving(self) -> None:
        self._kind_of = {a: reg.kind for reg in REGISTER_MAP for a in range(reg.address, reg.end)}
        self._serving = ModbusServerThread("sim-wallbox", tick=self.tick)

    def _device(self):
        from pymodbus.simulator import DataType, SimData, SimDevice

        blocks = [
            SimData(address=reg.address, values=[0] * reg.count, datatype=DataType.REGISTERS) for reg in REGISTER_MAP
        ]
        if not self.refuse_gaps:
            # A lenient box: every address between the first and the last listed one answers 0.
            listed = set(self._kind_of)
            first, last = min(listed), max(listed)
            gap_start = None
            for address in range(first, last + 2):
                if address not in listed and address <= last:
                    gap_start = address if gap_start is None else gap_start
                elif gap_start is not None:
                    blocks.append(
                        SimData(address=gap_start, count=address - gap_start, values=0, datatype=DataType.REGISTERS)
                    )
                    gap_start = None
        return SimDevice(id=self.unit_id, simdata=blocks, action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        from pymodbus.constants import ExcCodes

        if function_code not in (3, 4, 6):
            return ExcCodes.ILLEGAL_FUNCTION
        wanted = INPUT if function_code == 4 else HOLDING
        for a in range(address, address + count):
            kind = self._kind_of.get(a)
            if (kind is not None and kind != wanted) or a in self.missing_registers:
                return ExcCodes.ILLEGAL_ADDRESS
        with self._lock:
            self.tick()
            if set_values is not None:
                refused = self.refused_writes.get(address)
                if refused is not None:
                    return ExcCodes(refused)
                for offset, value in enumerate(set_values):
                    self._apply_write(address + offset, int(value))
                return None
            words = self._frozen_words if self._frozen_words is not None else self.register_words()
            words = {**words, **self.forced_words}
        for a in range(address, address + count):
            registers[a - start_address] = words.get(a, 0)
        return None

    def _trace_pdu(self, sending: bool, pdu):
        if not sending:
            fc = int(getattr(pdu, "function_code", 0))
            address = int(getattr(pdu, "address", 0))
            values: tuple[int, ...] = ()
            if fc in (6, 16):
                values = tuple(int(v) for v in (getattr(pdu, "registers", None) or []))
            count = len(values) if fc in (6, 16) else int(getattr(pdu, "count", 1) or 1)
            kind = INPUT if fc == 4 else HOLDING
            unlisted = tuple(vestel.unlisted_in(kind, address, count)) if fc in (3, 4, 6, 16) else ()
            with self._lock:
                self.requests.append(SimRequest(self._clock(), fc, address, count, values, unlisted))
                if len(self.requests) > self.max_records:
                    del self.requests[: self.max_records // 2]
                self.request_seen.notify_all()
        return pdu

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self.connection_opened()

    def _start(self, make_server, what: str) -> int | None:
        try:
            return self._serving.start(make_server)
        except ServerStartError as exc:
            raise RuntimeError(f"The simulated wallbox could not start {what}: {exc}") from exc

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP in a background thread; returns the port."""
        from pymodbus.server import ModbusTcpServer

        def make():
            return ModbusTcpServer(
                self._device(), address=(host, port), trace_pdu=self._trace_pdu, trace_connect=self._trace_connect
            )

        return int(self._start(make, f"on {host}:{port}"))

    def serve_rtu(self, device: str, baudrate: int = 9600, parity: str = "N", stopbits: int = 1) -> None:
        """Serve Modbus RTU on a serial device (a pseudo-terminal in tests) in a background thread."""
        from pymodbus.server import ModbusSerialServer

        def make():
            return ModbusSerialServer(
                self._device(),
                port=device,
                baudrate=baudrate,
                bytesize=8,
                parity=parity,
                stopbits=stopbits,
                trace_pdu=self._trace_pdu,
                trace_connect=self._trace_connect,
            )

        self._start(make, f"on {device}")

    def stop(self) -> None:
        self._serving.stop()
