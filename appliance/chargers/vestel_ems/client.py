"""Modbus client for the Vestel EVC04's EMS interface (TCP or RTU), and the values it reads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .registers import (
    HOLDING, IDENTITY_PLAN, INPUT, MAX_CURRENT_A, MIN_CHARGING_CURRENT_A, REGISTERS, STATUS_PLAN,
    ReadRun, decode,
)

log = logging.getLogger("appliance.vestel")


def quiet_pymodbus_logging() -> None:
    """Keep pymodbus' own error lines (with hex frame dumps) out of the log.

    The driver raises WallboxError with a sentence that names the fix; pymodbus would log the
    same failure again at ERROR level on every reconnect attempt. Called by the service, not at
    import, so tools that want pymodbus' debug output still get it.
    """
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class WallboxIdentity:
    serial: str
    chargepoint_id: str
    brand: str
    model: str
    firmware: str
    max_power_w: int
    phases: int


@dataclass(frozen=True)
class WallboxStatus:
    chargepoint_state: int
    charging: bool
    equipment_state: int
    cable_state: int
    fault_code: int
    currents_a: tuple[float, float, float]
    power_w: int
    meter_wh: int
    session_max_a: int
    evse_min_a: int
    evse_max_a: int
    cable_max_a: int
    session_energy_wh: int
    box_time_hhmmss: int
    failsafe_current_a: int
    failsafe_timeout_s: int
    # Read-back of 5004. Not the truth about pause: after 0 was written and the car unplugged the
    # box can report 6 here.
    setpoint_a: int

    @property
    def car_connected(self) -> bool:
        return self.cable_state >= 2

    @property
    def limit_a(self) -> int | None:
        """The smallest of the session, EVSE and cable maximum that the box reports (0 = not reported)."""
        limits = [a for a in (self.session_max_a, self.evse_max_a, self.cable_max_a) if a > 0]
        return min(limits) if limits else None


CHARGEPOINT_STATES = {
    0: "Available", 1: "Preparing", 2: "Charging", 3: "SuspendedEVSE", 4: "SuspendedEV",
    5: "Finishing", 6: "Reserved", 7: "Unavailable", 8: "Faulted",
}  # fmt: skip

_EXCEPTION_NAMES = {
    1: "ILLEGAL FUNCTION", 2: "ILLEGAL ADDRESS", 3: "ILLEGAL VALUE", 4: "DEVICE FAILURE",
    5: "ACKNOWLEDGE", 6: "DEVICE BUSY", 10: "GATEWAY PATH UNAVAILABLE", 11: "GATEWAY NO RESPONSE",
}  # fmt: skip


class WallboxError(Exception):
    """A request to the wallbox failed; the message says what failed and the likely fix."""


class WallboxRefused(WallboxError):
    """The wallbox answered, but with a Modbus exception (it is there, it refused the request)."""


def _check_current(current_a: int, what: str) -> int:
    if isinstance(current_a, bool) or int(current_a) != current_a:
        raise ValueError(f"{what} must be a whole number of amps, not {current_a!r}.")
    current_a = int(current_a)
    if current_a < 0 or 0 < current_a < MIN_CHARGING_CURRENT_A or current_a > MAX_CURRENT_A:
        raise ValueError(
            f"{what} of {current_a} A is not allowed: use 0 (pause) or "
            f"{MIN_CHARGING_CURRENT_A}-{MAX_CURRENT_A} A; the box's reaction to 1-5 A is unknown."
        )
    return current_a


class VestelClient:
    """Modbus client for the wallbox's EMS interface, over TCP or RTU.

    The link drives it from its one thread; the lock only keeps a tool that shares it (probe)
    from interleaving frames.
    """

    def __init__(self, modbus_client, *, unit_id: int, description: str, fix_hint: str, timeout_s: float):
        self._client = modbus_client
        self.unit_id = unit_id
        self._description = description
        self._fix_hint = fix_hint
        self.timeout_s = timeout_s
        self._lock = threading.RLock()

    @classmethod
    def tcp(cls, host: str, port: int = 502, unit_id: int = 255, timeout_s: float = 2.0) -> VestelClient:
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
        return cls(
            client,
            unit_id=unit_id,
            description=f"Modbus TCP {host}:{port} unit {unit_id}",
            fix_hint=(
                "check the wallbox's address and port, that the box is powered and on the network, "
                "and that 'Local load management' is set to 'Modbus TCP' in its web interface"
            ),
            timeout_s=timeout_s,
        )

    @classmethod
    def rtu(
        cls,
        serial_port: str,
        baudrate: int = 9600,
        parity: str = "E",
        stopbits: int = 1,
        unit_id: int = 255,
        timeout_s: float = 1.0,
    ) -> VestelClient:
        from .serial_client import WaitingSerialClient

        client = WaitingSerialClient(
            serial_port,
            baudrate=baudrate,
            bytesize=8,
            parity=parity,
            stopbits=stopbits,
            timeout=timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        return cls(
            client,
            unit_id=unit_id,
            description=f"Modbus RTU {serial_port} {baudrate} 8{parity}{stopbits} unit {unit_id}",
            fix_hint=(
                f"check the RS-485 wiring (A/B swapped?), that {serial_port} is the USB converter, "
                f"and that baud rate {baudrate}, parity {parity} and unit id {unit_id} match the box"
            ),
            timeout_s=timeout_s,
        )

    def describe(self) -> str:
        return self._description

    @property
    def fix_hint(self) -> str:
        """What to check when the box does not answer (wiring, address, settings)."""
        return self._fix_hint

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    def connect(self) -> bool:
        with self._lock:
            try:
                return bool(self._client.connect())
            except Exception as exc:  # pymodbus raises for unusable serial ports
                log.debug("connect to %s failed: %s", self._description, exc)
                return False

    def close(self) -> None:
        with self._lock:
            try:
                self._client.close()
            except Exception as exc:  # closing must never take the service down
                log.debug("close of %s failed: %s", self._description, exc)

    # --- requests -------------------------------------------------------------------------

    def _request(self, what: str, call: Callable[[], object]):
        from pymodbus.exceptions import ConnectionException, ModbusException

        with self._lock:
            try:
                response = call()
            except ConnectionException as exc:
                raise WallboxError(
                    f"The connection to the wallbox ({self._description}) is closed or broke while {what} "
                    f"({exc}): {self._fix_hint}."
                ) from exc
            except ModbusException as exc:
                raise WallboxError(
                    f"The wallbox ({self._description}) did not answer {what} within "
                    f"{self.timeout_s:g} s ({exc}): {self._fix_hint}."
                ) from exc
            except OSError as exc:
                raise WallboxError(
                    f"The connection to the wallbox ({self._description}) failed while {what} ({exc}): "
                    f"{self._fix_hint}."
                ) from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            name = _EXCEPTION_NAMES.get(code, "unknown exception")
            hint = {
                1: "this box does not support that function; the firmware may be too old",
                2: "this box does not have that register; the firmware may be too old or the unit id wrong",
            }.get(code, self._fix_hint)
            raise WallboxRefused(
                f"The wallbox ({self._description}) refused {what} with exception {code} ({name}): {hint}."
            )
        return response

    def read_run(self, run: ReadRun) -> dict[str, int | str]:
        """Read one gap-free run and decode every register in it."""
        kind_text = "input" if run.kind == INPUT else "holding"
        what = f"reading {kind_text} registers {run.address}-{run.address + run.count - 1}"
        if run.kind == INPUT:
            call = lambda: self._client.read_input_registers(run.address, count=run.count, device_id=self.unit_id)  # noqa: E731
        else:
            call = lambda: self._client.read_holding_registers(run.address, count=run.count, device_id=self.unit_id)  # noqa: E731
        words = self._request(what, call).registers
        if len(words) != run.count:
            raise WallboxError(
                f"The wallbox ({self._description}) answered {what} with {len(words)} registers "
                f"instead of {run.count}: {self._fix_hint}."
            )
        return {
            reg.name: decode(reg, words[reg.address - run.address : reg.end - run.address]) for reg in run.registers
        }

    def read_plan(self, plan: Iterable[ReadRun]) -> dict[str, int | str]:
        values: dict[str, int | str] = {}
        for run in plan:
            values.update(self.read_run(run))
        return values

    def write_register(self, name: str, value: int) -> None:
        """Write one holding register of the map with function 6."""
        reg = REGISTERS[name]
        if reg.kind != HOLDING or reg.count != 1:
            raise ValueError(f"{name} ({reg.address}) is not a writable single register.")
        self._request(
            f"writing {value} to register {reg.address} ({name})",
            lambda: self._client.write_register(reg.address, int(value), device_id=self.unit_id),
        )

    def write_failsafe(self, current_a: int, timeout_s: int) -> None:
        """Set the failsafe timeout (2002), then the failsafe current (2000)."""
        current_a = _check_current(current_a, "The failsafe current")
        if int(timeout_s) != timeout_s or not 1 <= timeout_s <= 0xFFFF:
            raise ValueError(f"The failsafe timeout must be 1-65535 s, not {timeout_s!r}.")
        self.write_register("failsafe_timeout_s", int(timeout_s))
        self.write_register("failsafe_current_a", current_a)

    def write_alive(self) -> None:
        self.write_register("alive", 1)

    def write_setpoint(self, current_a: int) -> None:
        self.write_register("setpoint_a", _check_current(current_a, "The setpoint"))

    def read_identity(self) -> WallboxIdentity:
        return identity_from_values(self.read_plan(IDENTITY_PLAN))

    def read_status(self) -> WallboxStatus:
        """All status registers at once (for `wallbox probe`; the link reads them in groups)."""
        return status_from_values(self.read_plan(STATUS_PLAN))


def status_from_values(v: dict[str, int | str]) -> WallboxStatus:
    """The status record from decoded status registers (every name of STATUS_REGISTERS)."""
    return WallboxStatus(
        chargepoint_state=int(v["chargepoint_state"]),
        charging=int(v["charging_state"]) == 1,
        equipment_state=int(v["equipment_state"]),
        cable_state=int(v["cable_state"]),
        fault_code=int(v["fault_code"]),
        currents_a=(
            int(v["current_l1_ma"]) / 1000.0,
            int(v["current_l2_ma"]) / 1000.0,
            int(v["current_l3_ma"]) / 1000.0,
        ),
        power_w=int(v["power_w"]),
        meter_wh=int(v["meter_0_1kwh"]) * 100,
        session_max_a=int(v["session_max_a"]),
        evse_min_a=int(v["evse_min_a"]),
        evse_max_a=int(v["evse_max_a"]),
        cable_max_a=int(v["cable_max_a"]),
        session_energy_wh=int(v["session_energy_wh"]),
        box_time_hhmmss=int(v["box_time"]),
        failsafe_current_a=int(v["failsafe_current_a"]),
        failsafe_timeout_s=int(v["failsafe_timeout_s"]),
        setpoint_a=int(v["setpoint_a"]),
    )


def identity_from_values(v: dict[str, int | str]) -> WallboxIdentity:
    """The identity record from decoded identity registers (every name of IDENTITY_REGISTERS)."""
    return WallboxIdentity(
        serial=str(v["serial"]),
        chargepoint_id=str(v["chargepoint_id"]),
        brand=str(v["brand"]),
        model=str(v["model"]),
        firmware=str(v["firmware"]),
        max_power_w=int(v["max_power_w"]),
        phases=3 if int(v["phases"]) == 1 else 1,
    )
