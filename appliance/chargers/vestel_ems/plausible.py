"""Physical bounds for what the wallbox reports: a value outside them makes the reading unusable.

A box in a bad state, a firmware bug or a foreign device on the bus can answer 0xFFFF or
0xFFFFFFFF. Believed, a power of 4 GW once looked like a PV surplus of 4294 kW. Each bound says why
in the sentence it makes, so the log names the register, the value and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from .registers import REGISTERS

MAX_PHASE_CURRENT_A = 80       # the largest EVSE the box's DIP switches allow; a current above is no reading
NOMINAL_VOLTAGE_V = 230
POWER_MARGIN = 1.1             # meters and voltages run a little high; 10 % above is still physical

# Tables the box reports states from (reference/vestel-evc04.md).
STATE_TABLES: dict[str, tuple[int, str]] = {
    "chargepoint_state": (8, "0 Available .. 8 Faulted"),
    "charging_state": (1, "0 not charging or 1 charging"),
    "equipment_state": (4, "0 Initializing .. 4 Updating"),
    "cable_state": (3, "0 no cable .. 3 vehicle connected and locked"),
}
CURRENT_MA = ("current_l1_ma", "current_l2_ma", "current_l3_ma")
AMPS = ("session_max_a", "evse_min_a", "evse_max_a", "cable_max_a", "failsafe_current_a", "setpoint_a")


def _where(name: str) -> str:
    reg = REGISTERS[name]
    return f"register {reg.address}" if reg.count == 1 else f"registers {reg.address}-{reg.end - 1}"


def power_bound_w(phases: int, evse_max_a: int | None) -> float:
    """Phases x voltage x EVSE maximum x 1.1: more than this the box cannot deliver."""
    max_a = evse_max_a if evse_max_a and 0 < evse_max_a <= MAX_PHASE_CURRENT_A else MAX_PHASE_CURRENT_A
    return phases * NOMINAL_VOLTAGE_V * max_a * POWER_MARGIN


def implausible(values: Mapping[str, int | str], phases: int = 3) -> dict[str, str]:
    """{register name: why its value cannot be true} for every value outside physical bounds."""
    found: dict[str, str] = {}
    for name, (highest, table) in STATE_TABLES.items():
        value = values.get(name)
        if isinstance(value, int) and value > highest:
            found[name] = f"{name.replace('_', ' ')} {value} ({_where(name)}) is outside its table ({table})"
    for name in CURRENT_MA:
        value = values.get(name)
        if isinstance(value, int) and value > MAX_PHASE_CURRENT_A * 1000:
            found[name] = (f"{name[:10].replace('_', ' ')} {value / 1000:g} A ({_where(name)}) is above "
                           f"{MAX_PHASE_CURRENT_A} A, more than any EVSE delivers")
    for name in AMPS:
        value = values.get(name)
        if isinstance(value, int) and value > MAX_PHASE_CURRENT_A:
            found[name] = (f"{name.replace('_a', '').replace('_', ' ')} {value} A ({_where(name)}) is above "
                           f"{MAX_PHASE_CURRENT_A} A, more than any EVSE takes")
    power = values.get("power_w")
    evse_max = values.get("evse_max_a")
    bound = power_bound_w(phases, evse_max if isinstance(evse_max, int) and "evse_max_a" not in found else None)
    if isinstance(power, int) and power > bound:
        found["power_w"] = (f"power {power} W ({_where('power_w')}) is above {phases} phases x {NOMINAL_VOLTAGE_V} V "
                            f"x {bound / phases / NOMINAL_VOLTAGE_V / POWER_MARGIN:g} A x {POWER_MARGIN:g} = {bound:.0f} W")
    return found
