"""The Vestel EVC04 EMS register map: the single source of truth for the driver and the simulated box.

Read requests are planned from it: only gap-free runs of listed registers, because whether the
box answers a read across an unlisted address (1003, 1005, 1009, ...) is unconfirmed and the safe
assumption is ILLEGAL ADDRESS. Writes use function 6 only, for the same reason (function 16 is
unconfirmed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    _r("phases", 404, 1, INPUT, "uint16", "", "0 = 1-phase, 1 = 3-phase: checks the configured phase count; only a 3-phase box can switch"),
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
    _r("phase_switch", 405, 1, HOLDING, "uint16", "", "0 = charge on 1 phase, 1 = on 3 (firmware >= 3.187): PV from 1.4 kW; resets when the TCP connection drops, so it is written again after every reconnect"),
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

# The status registers in groups by how fast they change, so the link reads each only as often as
# it needs: 16 reads every 2 s kept a 9600-baud line a third busy. The link reads one request at a
# time and checks for a pending setpoint or heartbeat in between.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    # every few seconds: what the car does now (1000-1002, 1004, 1006-1008, 1020-1021: 4 requests)
    "state": ("chargepoint_state", "charging_state", "equipment_state", "cable_state", "fault_code",
              "current_l1_ma", "power_w"),
    # the other phases, the frozen-answer clock and the setpoint read-back (a restarted box)
    "detail": ("current_l2_ma", "current_l3_ma", "box_time", "setpoint_a"),
    # counters for sessions
    "energy": ("meter_0_1kwh", "session_energy_wh"),
    # what changes only with a cable or a restart of the box
    "limits": ("session_max_a", "evse_min_a", "evse_max_a", "cable_max_a", "failsafe_current_a",
               "failsafe_timeout_s"),
}  # fmt: skip
STATUS_GROUP_PLANS: dict[str, tuple[ReadRun, ...]] = {
    group: plan_reads(REGISTERS[name] for name in names) for group, names in STATUS_GROUPS.items()
}


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

