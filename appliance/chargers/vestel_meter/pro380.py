"""The Inepro PRO380 meter as a basic Vestel EVC04 polls it on its Power Optimizer bus (CN20).

The box only ever reads the three phase currents (function 3, 0x500C, 6 registers, float32
big-endian, every ~1.006 s; andicoder/evc04 docs/SPECS.md section 5). We also answer the wider
PRO380 map with values that agree with each other, so a tool or a future firmware that reads more
than the currents sees a plausible meter instead of an exception.

Register layout (float32 ABCD, two registers a value) as the PRO380-Mod register list gives it and
public PRO380 readers use it (voltages at 0x5002, frequency 0x5008, currents 0x500C, total power
in kW at 0x5012, total active energy in kWh at 0x6000).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

UNIT_ID = 1
POLL_FUNCTION = 3
POLL_ADDRESS = 0x500C
POLL_COUNT = 6
# What the box sends every ~1.006 s; the tests and the bus listener recognise it byte for byte.
POLL_FRAME = bytes.fromhex("0103500c000614cb")

# The blocks we answer; addresses inside a block that carry no value answer 0.0.
INSTANT_BLOCK = (0x5000, 0x32)
ENERGY_BLOCK = (0x6000, 0x4C)

VOLTAGE_AVG = 0x5000
VOLTAGE_L1, VOLTAGE_L2, VOLTAGE_L3 = 0x5002, 0x5004, 0x5006
FREQUENCY = 0x5008
CURRENT_TOTAL = 0x500A
CURRENT_L1, CURRENT_L2, CURRENT_L3 = 0x500C, 0x500E, 0x5010
POWER_TOTAL_KW = 0x5012
POWER_L1_KW, POWER_L2_KW, POWER_L3_KW = 0x5014, 0x5016, 0x5018
ENERGY_TOTAL_KWH = 0x6000
ENERGY_IMPORT_KWH = 0x600C


@dataclass(frozen=True)
class MeterValues:
    """What the emulated meter says. The currents are what matters to the box; the rest agrees."""

    currents_a: tuple[float, float, float]
    voltage_v: float = 230.0
    frequency_hz: float = 50.0
    energy_kwh: float = 0.0


def float_words(value: float) -> tuple[int, int]:
    high, low = struct.unpack(">HH", struct.pack(">f", float(value)))
    return high, low


def words_float(high: int, low: int) -> float:
    return struct.unpack(">f", struct.pack(">HH", high, low))[0]


def meter_words(values: MeterValues) -> dict[int, int]:
    """Every register of both blocks, address -> 16-bit word."""
    powers_kw = [values.voltage_v * i / 1000.0 for i in values.currents_a]
    floats = {
        VOLTAGE_AVG: values.voltage_v,
        VOLTAGE_L1: values.voltage_v, VOLTAGE_L2: values.voltage_v, VOLTAGE_L3: values.voltage_v,
        FREQUENCY: values.frequency_hz,
        CURRENT_TOTAL: sum(values.currents_a),
        CURRENT_L1: values.currents_a[0], CURRENT_L2: values.currents_a[1], CURRENT_L3: values.currents_a[2],
        POWER_TOTAL_KW: sum(powers_kw),
        POWER_L1_KW: powers_kw[0], POWER_L2_KW: powers_kw[1], POWER_L3_KW: powers_kw[2],
        ENERGY_TOTAL_KWH: values.energy_kwh,
        ENERGY_IMPORT_KWH: values.energy_kwh,
    }
    words = {}
    for start, count in (INSTANT_BLOCK, ENERGY_BLOCK):
        for address in range(start, start + count):
            words[address] = 0
    for address, value in floats.items():
        words[address], words[address + 1] = float_words(value)
    return words


def in_map(address: int, count: int) -> bool:
    return any(start <= address and address + count <= start + size for start, size in (INSTANT_BLOCK, ENERGY_BLOCK))


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC, low byte first, as it goes on the wire."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def currents_answer(currents_a: tuple[float, float, float], unit_id: int = UNIT_ID) -> bytes:
    """The whole RTU answer to the box's poll (used by the simulated box to check what it receives)."""
    body = bytes([unit_id, POLL_FUNCTION, 12]) + struct.pack(">fff", *currents_a)
    return body + crc16(body)


def parse_currents_answer(frame: bytes) -> tuple[float, float, float] | None:
    """The three currents of an answer frame, or None if it is not a valid answer to the poll."""
    if len(frame) != 17 or frame[:3] != bytes([UNIT_ID, POLL_FUNCTION, 12]) or crc16(frame[:-2]) != frame[-2:]:
        return None
    return struct.unpack(">fff", frame[3:15])
