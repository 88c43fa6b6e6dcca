"""Fronius over Modbus TCP SunSpec: the models we read, where their fields sit, and how a set of
model blocks becomes a :class:`Measurement` in Fronius signs.

GEN24 and Tauro inverters have no Datamanager and so no push service; next to the Solar API they
speak SunSpec on port 502 (enable "Modbus TCP" in the inverter's web interface, "int + SF" or
"float"). The inverter sits at unit 1, its smart meter at unit 200 (240 on some SnapINverters).

Models are found by walking the chain from the "SunS" marker (at 40000; some devices use 0 or
50000): each model starts with its id and its length, the chain ends with id 0xFFFF. No field
address is fixed, only its offset inside its model (the table below, from the SunSpec model
definitions; offsets count from the first register after the id and length).

| model | what | fields used (offset) | why |
|---|---|---|---|
| 101-103 | inverter, int + scale factor | W (12), W_SF (13) | AC power of the inverter |
| 111-113 | inverter, float | W (20-21) | the same in float mode |
| 124 | storage | ChaState (6), ChaState_SF (20) | battery state of charge, % |
| 160 | multiple MPPT | DCW_SF (2), N (6); per module of 20 from 8: IDStr (1-8), DCW (11) | PV production per string; on GEN24 modules "StCha" and "StDisCha" carry the battery's charging and discharging power |
| 201-204 | meter, int + SF | W (16), W_SF (20) | grid power, + import (Fronius' P_Grid sign) |
| 211-214 | meter, float | W (26-27) | the same in float mode |

"Not implemented" values mean "not known": 0x8000 for int16 and scale factors, 0xFFFF for uint16,
NaN for float32.

Which PV counts: the AC power of the inverter includes the battery's discharge and lacks its
charging. The PV reaching the AC side is the smaller of (production - charging) from model 160
and (AC power - discharging), so that neither a missing MPPT module (Fronius Argeno reports only
part of its strings in 160) nor the battery's discharge is ever counted as PV.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .fronius import MAX_POWER_W, Measurement, pv_ac_w

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
BASE_ADDRESSES = (40000, 0, 50000)
END_MODEL_ID = 0xFFFF
MAX_MODELS = 64  # a real device has about ten; a loop in a broken chain must end

COMMON_MODEL = 1
INT_INVERTER_MODELS = (101, 102, 103)
FLOAT_INVERTER_MODELS = (111, 112, 113)
INVERTER_MODELS = INT_INVERTER_MODELS + FLOAT_INVERTER_MODELS
NAMEPLATE_MODEL = 120
STORAGE_MODEL = 124
MPPT_MODEL = 160
INT_METER_MODELS = (201, 202, 203, 204)
FLOAT_METER_MODELS = (211, 212, 213, 214)
METER_MODELS = INT_METER_MODELS + FLOAT_METER_MODELS

# Offsets inside the models (after id and length).
INVERTER_W, INVERTER_W_SF, INVERTER_FLOAT_W = 12, 13, 20
METER_W, METER_W_SF, METER_FLOAT_W = 16, 20, 26
STORAGE_CHA_STATE, STORAGE_CHA_STATE_SF = 6, 20
MPPT_DCW_SF, MPPT_N, MPPT_MODULE_START, MPPT_MODULE_LENGTH = 2, 6, 8, 20
MPPT_ID_STR, MPPT_ID_STR_LENGTH, MPPT_DCW = 1, 8, 11

#: Model lengths of the models we read (the length register must match; others may vary).
MODEL_LENGTHS = {**{m: 50 for m in INT_INVERTER_MODELS}, **{m: 60 for m in FLOAT_INVERTER_MODELS},
                 STORAGE_MODEL: 24, **{m: 105 for m in INT_METER_MODELS},
                 **{m: 124 for m in FLOAT_METER_MODELS}}

#: read(unit, address, count) -> the registers, or None when the device refuses the address.
ReadRegisters = Callable[[int, int, int], "list[int] | None"]


class SunSpecError(Exception):
    """The device cannot be read as SunSpec; ``str(e)`` says what to check."""


@dataclass(frozen=True)
class ModelBlock:
    model_id: int
    address: int  # the first register after the id and length
    length: int


def int16(word: int) -> int | None:
    return None if word == 0x8000 else word - 0x10000 if word & 0x8000 else word


def uint16(word: int) -> int | None:
    return None if word == 0xFFFF else word


def float32(high: int, low: int) -> float | None:
    value = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value if math.isfinite(value) else None


def scaled(value: int | None, sf_word: int) -> float | None:
    sf = int16(sf_word)
    if value is None or sf is None or not -10 <= sf <= 10:
        return None
    return value * 10.0 ** sf


def discover(read: ReadRegisters, unit: int) -> dict[int, ModelBlock]:
    """Walk the model chain of one unit from the "SunS" marker; {} when no marker answers."""
    for base in BASE_ADDRESSES:
        marker = read(unit, base, 2)
        if marker is None or tuple(marker) != SUNS_MARKER:
            continue
        models: dict[int, ModelBlock] = {}
        address = base + 2
        for _ in range(MAX_MODELS):
            header = read(unit, address, 2)
            if header is None or header[0] == END_MODEL_ID:
                break
            model_id, length = header
            models.setdefault(model_id, ModelBlock(model_id, address + 2, length))
            address += 2 + length
            if address > 0xFFFF:
                break
        return models
    return {}


def _power(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or abs(value) > MAX_POWER_W:
        return None
    return float(value)


def inverter_ac_w(model_id: int, regs: list[int]) -> float | None:
    if model_id in FLOAT_INVERTER_MODELS:
        return _power(float32(regs[INVERTER_FLOAT_W], regs[INVERTER_FLOAT_W + 1]))
    return _power(scaled(int16(regs[INVERTER_W]), regs[INVERTER_W_SF]))


def meter_w(model_id: int, regs: list[int]) -> float | None:
    if model_id in FLOAT_METER_MODELS:
        return _power(float32(regs[METER_FLOAT_W], regs[METER_FLOAT_W + 1]))
    return _power(scaled(int16(regs[METER_W]), regs[METER_W_SF]))


def storage_soc_pct(regs: list[int]) -> float | None:
    soc = scaled(uint16(regs[STORAGE_CHA_STATE]), regs[STORAGE_CHA_STATE_SF])
    return soc if soc is not None and 0.0 <= soc <= 100.0 else None


def _id_str(words: list[int]) -> str:
    raw = b"".join(struct.pack(">H", w) for w in words)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def mppt_flows(regs: list[int]) -> tuple[float | None, float | None]:
    """(PV production, battery power in Fronius signs) from model 160; None where not known."""
    count = uint16(regs[MPPT_N]) or 0
    sf_word = regs[MPPT_DCW_SF]
    production_w = charging_w = discharging_w = None
    for i in range(count):
        start = MPPT_MODULE_START + i * MPPT_MODULE_LENGTH
        if start + MPPT_MODULE_LENGTH > len(regs):
            break
        name = _id_str(regs[start + MPPT_ID_STR:start + MPPT_ID_STR + MPPT_ID_STR_LENGTH])
        power = _power(scaled(uint16(regs[start + MPPT_DCW]), sf_word))
        if power is None:
            continue
        if name.startswith("StDisCha"):
            discharging_w = (discharging_w or 0.0) + power
        elif name.startswith("StCha"):
            charging_w = (charging_w or 0.0) + power
        else:
            production_w = (production_w or 0.0) + power
    battery_w = None
    if charging_w is not None or discharging_w is not None:
        battery_w = (discharging_w or 0.0) - (charging_w or 0.0)
    return production_w, battery_w


@dataclass(frozen=True)
class SunSpecFigures:
    """What one read of the inverter and the meter gave; None = not known."""

    ac_w: float | None
    grid_w: float | None
    soc_pct: float | None
    production_w: float | None
    battery_w: float | None

    def measurement(self, *, source: str, received_at: float) -> Measurement:
        ac_w = max(0.0, self.ac_w or 0.0)  # unknown or negative AC power (night) counts as no PV
        battery_w = self.battery_w
        pv_w = max(0.0, ac_w - max(0.0, battery_w or 0.0))
        if self.production_w is not None:
            pv_w = min(pv_w, pv_ac_w(self.production_w, battery_w))
        production_w = self.production_w
        if production_w is None:
            production_w = max(0.0, ac_w - (battery_w or 0.0))
        load_w = -(self.grid_w + production_w + (battery_w or 0.0)) if self.grid_w is not None else None
        return Measurement(
            pv_w=pv_w, grid_w=self.grid_w, load_w=load_w, battery_w=battery_w, kind="sunspec",
            inverter_time=None, source=source, received_at=received_at,
            pv_production_w=production_w, soc_pct=self.soc_pct,
        )


def read_figures(read: ReadRegisters, inverter_unit: int, inverter: dict[int, ModelBlock],
                 meter_unit: int, meter: dict[int, ModelBlock]) -> SunSpecFigures:
    """One read of every model we use (one request per model). Raises SunSpecError when the
    inverter model cannot be read."""
    def block(unit: int, b: ModelBlock) -> list[int] | None:
        # A model shorter than its definition would put our offsets outside it: not readable.
        if b.length < MODEL_LENGTHS.get(b.model_id, MPPT_MODULE_START) or b.length > 125:
            return None
        regs = read(unit, b.address, b.length)
        return list(regs) if regs is not None and len(regs) >= b.length else None

    inv = next((inverter[m] for m in INVERTER_MODELS if m in inverter), None)
    if inv is None:
        raise SunSpecError(f"unit {inverter_unit} has no inverter model (101-103 or 111-113): set "
                           "[fronius] sunspec_inverter_unit to the inverter's Modbus address.")
    regs = block(inverter_unit, inv)
    if regs is None:
        raise SunSpecError(f"the inverter model {inv.model_id} at unit {inverter_unit} could not "
                           "be read: check that Modbus TCP is enabled and not restricted.")
    ac_w = inverter_ac_w(inv.model_id, regs)
    soc_pct = production_w = battery_w = grid_w = None
    if STORAGE_MODEL in inverter and (regs := block(inverter_unit, inverter[STORAGE_MODEL])):
        soc_pct = storage_soc_pct(regs)
    if MPPT_MODEL in inverter and (regs := block(inverter_unit, inverter[MPPT_MODEL])):
        production_w, battery_w = mppt_flows(regs)
    met = next((meter[m] for m in METER_MODELS if m in meter), None)
    if met is not None and (regs := block(meter_unit, met)):
        grid_w = meter_w(met.model_id, regs)
    return SunSpecFigures(ac_w, grid_w, soc_pct, production_w, battery_w)
