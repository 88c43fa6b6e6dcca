"""The Vestel EVC04 wallbox over Modbus: register map, client, and the link that keeps it alive.

The register map below is the single source of truth for the driver and for the simulated
wallbox (appliance/sim/wallbox.py). Read requests are planned from it: only gap-free runs of
listed registers, because whether the box answers a read across an unlisted address (1003,
1005, 1009, ...) is unconfirmed and the safe assumption is ILLEGAL ADDRESS. Writes use function
6 only, for the same reason (function 16 is unconfirmed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

def quiet_pymodbus_logging() -> None:
    """Keep pymodbus' own error lines (with hex frame dumps) out of the log.

    The driver raises WallboxError with a sentence that names the fix; pymodbus would log the
    same failure again at ERROR level on every reconnect attempt. Called by the service, not at
    import, so tools that want pymodbus' debug output still get it.
    """
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


INPUT = "input"  # function 4
HOLDING = "holding"  # function 3 to read, function 6 to write

# Largest register count a single Modbus read may ask for.
MAX_READ_COUNT = 125

# Setpoints the box may be given: 0 pauses, 6 A is the usual minimum (1102), 1-5 A are never
# written because what the box does with them is unconfirmed. 63 A is the Type 2 maximum.
MIN_CHARGING_CURRENT_A = 6
MAX_CURRENT_A = 63


@dataclass(frozen=True)
class Register:
    """One entry of the EMS register map."""

    name: str
    address: int
    count: int
    kind: str  # INPUT or HOLDING
    type: str  # "uint16", "uint32" (big-endian, high word first) or "string" (2 chars a register)
    unit: str
    why: str  # what the appliance uses it for

    @property
    def end(self) -> int:
        """First address after this register."""
        return self.address + self.count


def _r(name, address, count, kind, type_, unit, why) -> Register:
    return Register(name, address, count, kind, type_, unit, why)


# fmt: off
REGISTER_MAP: tuple[Register, ...] = (
    # --- identity (read once after connecting; shown by `wallbox probe` and in the log) ---
    _r("serial", 100, 25, INPUT, "string", "", "serial number: tells the installer which box answered"),
    _r("chargepoint_id", 130, 50, INPUT, "string", "", "chargepoint id as configured in the box"),
    _r("brand", 190, 10, INPUT, "string", "", "brand: confirms we talk to a Vestel EMS interface"),
    _r("model", 210, 5, INPUT, "string", "", "model: AC11/AC22 variant"),
    _r("firmware", 230, 50, INPUT, "string", "", "firmware version: phase switching needs >= 3.187, RFID 1516 >= 3.156"),
    _r("box_date", 290, 2, INPUT, "uint32", "yymmdd", "the box's date (not read regularly)"),
    _r("box_time", 294, 2, INPUT, "uint32", "hhmmss", "the box's clock: a value that stops changing shows frozen answers"),
    _r("max_power_w", 400, 2, INPUT, "uint32", "W", "chargepoint max power: AC11 or AC22"),
    _r("phases", 404, 1, INPUT, "uint16", "", "0 = 1-phase, 1 = 3-phase: checks the configured phase count"),
    # --- status (read every few seconds) ---
    _r("chargepoint_state", 1000, 1, INPUT, "uint16", "", "OCPP-like state: 0 Available, 2 Charging, 3 SuspendedEVSE, 4 SuspendedEV, 8 Faulted"),
    _r("charging_state", 1001, 1, INPUT, "uint16", "", "1 while the car draws current (state C2)"),
    _r("equipment_state", 1002, 1, INPUT, "uint16", "", "0 Initializing, 1 Running, 2 Fault, 3 Disabled, 4 Updating"),
    _r("cable_state", 1004, 1, INPUT, "uint16", "", ">= 2: a car is connected; a rising edge triggers a setpoint rewrite"),
    _r("fault_code", 1006, 2, INPUT, "uint32", "", "EVSE fault code, 0 = none (two registers, some sources read one)"),
    _r("current_l1_ma", 1008, 1, INPUT, "uint16", "mA", "what the car draws on L1: shown, and checks the setpoint took effect"),
    _r("current_l2_ma", 1010, 1, INPUT, "uint16", "mA", "L2 current"),
    _r("current_l3_ma", 1012, 1, INPUT, "uint16", "mA", "L3 current"),
    _r("voltage_l1_v", 1014, 1, INPUT, "uint16", "V", "L1 voltage (listed so gap checks know it; not read)"),
    _r("voltage_l2_v", 1016, 1, INPUT, "uint16", "V", "L2 voltage (not read)"),
    _r("voltage_l3_v", 1018, 1, INPUT, "uint16", "V", "L3 voltage (not read)"),
    _r("power_w", 1020, 2, INPUT, "uint32", "W", "total active power: shown on the display"),
    _r("power_l1_w", 1024, 2, INPUT, "uint32", "W", "L1 power (not read)"),
    _r("power_l2_w", 1028, 2, INPUT, "uint32", "W", "L2 power (not read)"),
    _r("power_l3_w", 1032, 2, INPUT, "uint32", "W", "L3 power (not read)"),
    _r("meter_0_1kwh", 1036, 2, INPUT, "uint32", "0.1 kWh", "energy meter: total charged energy"),
    _r("session_max_a", 1100, 1, INPUT, "uint16", "A", "session max current: one of the limits of safety rule 1"),
    _r("evse_min_a", 1102, 1, INPUT, "uint16", "A", "EVSE min current: the smallest current that charges (usually 6 A)"),
    _r("evse_max_a", 1104, 1, INPUT, "uint16", "A", "EVSE max current: a limit of safety rule 1"),
    _r("cable_max_a", 1106, 1, INPUT, "uint16", "A", "cable max current: a limit of safety rule 1"),
    _r("session_energy_wh", 1502, 2, INPUT, "uint32", "Wh", "energy of the current session: shown on the display"),
    _r("session_start_hhmmss", 1504, 2, INPUT, "uint32", "hhmmss", "session start time (not read)"),
    _r("session_duration_s", 1508, 2, INPUT, "uint32", "s", "session duration (not read)"),
    _r("session_end_hhmmss", 1512, 2, INPUT, "uint32", "hhmmss", "session end time (not read)"),
    # --- control (holding registers, written with function 6) ---
    _r("failsafe_current_a", 2000, 1, HOLDING, "uint16", "A", "what the box charges with when the appliance stops talking: safety rule 5"),
    _r("failsafe_timeout_s", 2002, 1, HOLDING, "uint16", "s", "how long the box waits for the alive register before falling back"),
    _r("setpoint_a", 5004, 1, HOLDING, "uint16", "A", "the charging current the appliance grants (0 pauses)"),
    _r("alive", 6000, 1, HOLDING, "uint16", "", "heartbeat: we write 1, the box checks and clears it every timeout/2"),
)
# fmt: on

REGISTERS: dict[str, Register] = {reg.name: reg for reg in REGISTER_MAP}

IDENTITY_REGISTERS = ("serial", "chargepoint_id", "brand", "model", "firmware", "max_power_w", "phases")
STATUS_REGISTERS = (
    "chargepoint_state", "charging_state", "equipment_state", "cable_state", "fault_code",
    "current_l1_ma", "current_l2_ma", "current_l3_ma", "power_w", "meter_0_1kwh",
    "session_max_a", "evse_min_a", "evse_max_a", "cable_max_a", "session_energy_wh",
    "box_time", "failsafe_current_a", "failsafe_timeout_s", "setpoint_a",
)  # fmt: skip


def listed_addresses(kind: str) -> frozenset[int]:
    """Every address the map covers for one register kind (multi-register values included)."""
    return frozenset(a for reg in REGISTER_MAP if reg.kind == kind for a in range(reg.address, reg.end))


def unlisted_in(kind: str, address: int, count: int) -> list[int]:
    """The addresses of a request that the map does not list (empty for a gap-free request)."""
    listed = listed_addresses(kind)
    return [a for a in range(address, address + count) if a not in listed]


@dataclass(frozen=True)
class ReadRun:
    """One read request: a gap-free run of listed registers of one kind."""

    kind: str
    address: int
    count: int
    registers: tuple[Register, ...]


def plan_reads(registers: Iterable[Register], max_count: int = MAX_READ_COUNT) -> tuple[ReadRun, ...]:
    """Group registers into as few requests as possible without spanning an unlisted address.

    Two registers share a request only when the second starts exactly where the first ends,
    so a request never covers an address the map does not list.
    """
    runs: list[ReadRun] = []
    ordered = sorted(set(registers), key=lambda reg: (reg.kind, reg.address))
    current: list[Register] = []
    for reg in ordered:
        if current:
            first, last = current[0], current[-1]
            if reg.kind == last.kind and reg.address == last.end and reg.end - first.address <= max_count:
                current.append(reg)
                continue
            runs.append(ReadRun(first.kind, first.address, last.end - first.address, tuple(current)))
        current = [reg]
    if current:
        first, last = current[0], current[-1]
        runs.append(ReadRun(first.kind, first.address, last.end - first.address, tuple(current)))
    return tuple(runs)


IDENTITY_PLAN = plan_reads(REGISTERS[name] for name in IDENTITY_REGISTERS)
STATUS_PLAN = plan_reads(REGISTERS[name] for name in STATUS_REGISTERS)


def decode(reg: Register, words: Sequence[int]) -> int | str:
    """Turn the raw 16-bit words of one register into its value."""
    if reg.type == "uint16":
        return int(words[0])
    if reg.type == "uint32":
        return (int(words[0]) << 16) | int(words[1])
    raw = b"".join(int(w).to_bytes(2, "big") for w in words)
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


def encode(reg: Register, value: int | str) -> list[int]:
    """Turn a value into the raw words of one register (used by the simulated wallbox)."""
    if reg.type == "uint16":
        return [int(value) & 0xFFFF]
    if reg.type == "uint32":
        value = int(value) & 0xFFFFFFFF
        return [value >> 16, value & 0xFFFF]
    raw = str(value).encode("ascii", errors="replace")[: reg.count * 2].ljust(reg.count * 2, b"\x00")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


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
    """Modbus client for the wallbox's EMS interface, over TCP or RTU. Thread-safe."""

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
        from pymodbus.client import ModbusSerialClient

        client = ModbusSerialClient(
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
        v = self.read_plan(IDENTITY_PLAN)
        return WallboxIdentity(
            serial=str(v["serial"]),
            chargepoint_id=str(v["chargepoint_id"]),
            brand=str(v["brand"]),
            model=str(v["model"]),
            firmware=str(v["firmware"]),
            max_power_w=int(v["max_power_w"]),
            phases=3 if int(v["phases"]) == 1 else 1,
        )

    def read_status(self) -> WallboxStatus:
        v = self.read_plan(STATUS_PLAN)
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


class WallboxLink:
    """Keeps the wallbox alive and told, independent of inverter pushes.

    A background thread connects, sets the failsafe registers before anything else, writes the
    alive register every failsafe_timeout_s/4 from its own timer, reads the status, rewrites the
    setpoint every setpoint_refresh_s, and reconnects with backoff (1, 2, 4 ... 30 s). After every
    reconnect it sets the failsafe registers again and then rewrites the setpoint, because the box
    keeps its failsafe current until 5004 is written (sticky failsafe).
    """

    BACKOFF_MAX_S = 30.0

    def __init__(
        self,
        client: VestelClient,
        *,
        failsafe_current_a: int,
        failsafe_timeout_s: int,
        status_interval_s: float = 2.0,
        setpoint_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[str], None] | None = None,
    ):
        _check_current(failsafe_current_a, "The failsafe current")
        if failsafe_timeout_s < 1:
            raise ValueError(f"The failsafe timeout must be at least 1 s, not {failsafe_timeout_s!r}.")
        self.client = client
        self.failsafe_current_a = int(failsafe_current_a)
        self.failsafe_timeout_s = int(failsafe_timeout_s)
        self.heartbeat_interval_s = failsafe_timeout_s / 4.0
        self.status_interval_s = status_interval_s
        self.setpoint_refresh_s = setpoint_refresh_s
        # Frozen answers: the box's clock (294) must change at least this often.
        self.frozen_after_s = max(10.0, 3 * status_interval_s)
        self._clock = clock
        self._on_event = on_event

        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False
        self._ever_connected = False
        self._lost_at: float | None = None
        self._desired_a: int | None = None
        self._written_a: int | None = None
        self._next_refresh = 0.0
        self._status: WallboxStatus | None = None
        self._status_at: float | None = None
        self._identity: WallboxIdentity | None = None
        self._last_error: str | None = None
        self._box_time_seen: tuple[int, float] | None = None
        self._next_heartbeat = 0.0
        self._status_refused = False
        self._backoff_s = 1.0
        self._retry_wait_s = 0.0
        self._good_since_connect = False  # a status read succeeded on this connection

        self.heartbeats_written = 0
        self.setpoint_writes = 0
        self.reconnects = 0

    # --- public state ---------------------------------------------------------------------

    @property
    def status(self) -> WallboxStatus | None:
        return self._status

    @property
    def status_age_s(self) -> float | None:
        at = self._status_at
        return None if at is None else self._clock() - at

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def identity(self) -> WallboxIdentity | None:
        return self._identity

    @property
    def last_error(self) -> str | None:
        return self._last_error

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("The wallbox link is already running.")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wallbox-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2 * self.client.timeout_s + 5)
        self.client.close()
        with self._state_lock:
            self._connected = False

    # --- called from the control loop ---------------------------------------------------------

    def set_setpoint(self, current_a: int) -> bool:
        """Tell the box the new setpoint at once; True when the box has it. Never raises."""
        try:
            current_a = _check_current(current_a, "The setpoint")
        except (ValueError, TypeError) as exc:
            self._event(f"Setpoint not written: {exc}")
            return False
        with self._state_lock:
            self._desired_a = current_a
            if not self._connected:
                return False
            if self._written_a == current_a:
                return True
        return self._write_setpoint(current_a)

    # --- internals ------------------------------------------------------------------------------

    def _event(self, sentence: str) -> None:
        log.info("%s", sentence)
        if self._on_event is not None:
            try:
                self._on_event(sentence)
            except Exception:  # a broken listener must not stop the heartbeat
                log.exception("Wallbox event listener failed")

    def _write_setpoint(self, current_a: int) -> bool:
        try:
            self.client.write_setpoint(current_a)
        except (WallboxError, ValueError) as exc:
            self._lost(str(exc))
            return False
        with self._state_lock:
            self._written_a = current_a
            self.setpoint_writes += 1
            self._next_refresh = self._clock() + self.setpoint_refresh_s
        return True

    def _lost(self, error: str) -> None:
        with self._state_lock:
            was_connected = self._connected
            self._connected = False
            self._written_a = None
            self._last_error = error
            if was_connected:
                self._lost_at = self._clock()
                if not self._good_since_connect:
                    # A box that accepts the connection and then fails at once gets backoff too.
                    self._retry_wait_s = self._backoff_s
                    self._backoff_s = min(self._backoff_s * 2, self.BACKOFF_MAX_S)
        self.client.close()
        if was_connected:
            self._event(
                f"Wallbox stopped answering: {error} Reconnecting; if it stays away the box falls back to "
                f"{self.failsafe_current_a} A after {self.failsafe_timeout_s} s."
            )

    def _connect(self) -> bool:
        """Connect and bring the box into a known state; raises WallboxError on failure."""
        client = self.client
        client.close()
        if not client.connect():
            raise WallboxError(f"Could not open the connection to the wallbox ({client.describe()}): {client.fix_hint}.")
        # Safety rule 5: the failsafe registers come before any other request.
        client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
        client.write_alive()
        self.heartbeats_written += 1
        next_heartbeat = self._clock() + self.heartbeat_interval_s
        try:
            identity: WallboxIdentity | None = client.read_identity()
        except WallboxRefused as exc:
            # Identity is for people, not for control: a box without some of it still charges.
            identity = None
            self._event(f"Could not read the wallbox's identity, carrying on without it: {exc}")
        with self._state_lock:
            desired = self._desired_a
        if desired is not None:
            # Safety rule 6: the box keeps its failsafe current until 5004 is written again.
            client.write_setpoint(desired)
            with self._state_lock:
                self._written_a = desired
                self.setpoint_writes += 1
                self._next_refresh = self._clock() + self.setpoint_refresh_s
        with self._state_lock:
            self._identity = identity
            self._connected = True
            self._last_error = None
            self._box_time_seen = None
            self._status_refused = False
        self._next_heartbeat = next_heartbeat
        now = self._clock()
        if not self._ever_connected:
            self._ever_connected = True
            what = (
                f"{identity.brand} {identity.model}, serial {identity.serial}, firmware {identity.firmware}"
                if identity is not None
                else "identity unknown"
            )
            self._event(
                f"Wallbox connected ({client.describe()}): {what}; failsafe {self.failsafe_current_a} A "
                f"after {self.failsafe_timeout_s} s."
            )
        else:
            self.reconnects += 1
            away_s = now - self._lost_at if self._lost_at is not None else 0.0
            told = f"setpoint {desired} A written again" if desired is not None else "no setpoint to restore yet"
            self._event(f"Wallbox answered again after {away_s:.0f} s: {told}.")
        return True

    def _read_status(self) -> None:
        try:
            status = self.client.read_status()
        except WallboxRefused as exc:
            # The box is there (the heartbeat goes on) but refuses a status register: keep the old
            # status, whose age tells the control loop it is stale, and say so once.
            with self._state_lock:
                self._last_error = str(exc)
            if not self._status_refused:
                self._status_refused = True
                self._event(f"Wallbox status unavailable: {exc}")
            return
        self._status_refused = False
        now = self._clock()
        with self._state_lock:
            self._good_since_connect = True
            self._backoff_s = 1.0
            self._last_error = None
            previous = self._status
            self._status = status
            self._status_at = now
            desired = self._desired_a
        seen = self._box_time_seen
        if seen is None or seen[0] != status.box_time_hhmmss:
            self._box_time_seen = (status.box_time_hhmmss, now)
        elif now - seen[1] > self.frozen_after_s:
            raise WallboxError(
                f"The wallbox's clock (register 294) has not changed for {now - seen[1]:.0f} s: its answers "
                "are frozen; reopening the connection."
            )
        if (status.failsafe_current_a, status.failsafe_timeout_s) != (self.failsafe_current_a, self.failsafe_timeout_s):
            # The box lost them (restarted without the connection dropping, e.g. on RS-485).
            self._event(
                f"Wallbox reports failsafe {status.failsafe_current_a} A after {status.failsafe_timeout_s} s "
                f"instead of {self.failsafe_current_a} A after {self.failsafe_timeout_s} s (restarted?): "
                "failsafe and setpoint written again."
            )
            self.client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
            if desired is not None:
                self._write_setpoint(desired)
            return
        if status.car_connected and previous is not None and not previous.car_connected and desired is not None:
            # The box may have changed 5004 on its own while no car was there (0 reads back as 6).
            self._event(f"Car connected: setpoint {desired} A written again.")
            self._write_setpoint(desired)

    def _run(self) -> None:
        next_status = 0.0
        while not self._stop.is_set():
            if not self._connected:
                if self._retry_wait_s > 0:
                    if self._stop.wait(self._retry_wait_s):
                        break
                    self._retry_wait_s = 0.0
                try:
                    with self._state_lock:
                        self._good_since_connect = False
                    self._connect()
                    next_status = self._clock()
                except (WallboxError, ValueError) as exc:
                    with self._state_lock:
                        first_failure = self._last_error is None
                        self._last_error = str(exc)
                        if self._lost_at is None:
                            self._lost_at = self._clock()
                        self._retry_wait_s = self._backoff_s
                        self._backoff_s = min(self._backoff_s * 2, self.BACKOFF_MAX_S)
                    self.client.close()
                    if first_failure:
                        self._event(f"{exc} Retrying every {self._retry_wait_s:g}-{self.BACKOFF_MAX_S:g} s.")
                    continue
            try:
                now = self._clock()
                if now >= self._next_heartbeat:
                    self.client.write_alive()
                    self.heartbeats_written += 1
                    # Own timer: a slow status read does not push the heartbeat later.
                    self._next_heartbeat += self.heartbeat_interval_s
                    if self._next_heartbeat <= now:
                        self._next_heartbeat = now + self.heartbeat_interval_s
                with self._state_lock:
                    desired, written = self._desired_a, self._written_a
                    refresh_due = desired is not None and (written != desired or now >= self._next_refresh)
                if refresh_due:
                    if not self._write_setpoint(desired):
                        continue
                if now >= next_status:
                    self._read_status()
                    next_status = max(next_status + self.status_interval_s, now)
            except (WallboxError, ValueError) as exc:
                self._lost(str(exc))
                continue
            if not self._connected:
                continue
            with self._state_lock:
                next_refresh = self._next_refresh if self._desired_a is not None else float("inf")
            due = min(self._next_heartbeat, next_status, next_refresh)
            self._stop.wait(max(0.0, min(due - self._clock(), 1.0)))
