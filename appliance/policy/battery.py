"""The home battery in the car's budget: pure rules, no I/O, Fronius signs throughout.

Fronius signs: ``battery_w`` (P_Akku) is negative while the battery charges and positive while it
discharges; ``grid_w`` (P_Grid) is positive on import. The readings come from
:class:`appliance.sources.fronius.Measurement`.

Two rules, one for each kind of figure the policy uses:

- The allowance rule (fast mode, and the ceiling in every mode) counts the PV that reaches the
  house's AC side: production minus battery charging (``Measurement.pv_w``). The battery's
  discharge counts only when the settings let the car use the battery
  (``car_may_discharge``), and then only while the battery is at or above its priority state of
  charge, so the car never empties what the house keeps for the evening.
- The PV surplus (pv and minpv modes) is what the grid meter shows the house gives away, plus
  what the car already takes. Below ``priority_soc_pct`` the battery keeps its charging power: the
  surplus is left as the meter shows it (the charging has already been taken before the meter).
  At or above it the car may also take what would otherwise charge the battery: the charging
  power is added. The battery's discharge is taken off the surplus, unless the settings allow the
  car to use the battery; otherwise a battery covering the car's draw would look like PV.

An unknown state of charge counts as below the priority level: the battery keeps its charging.

Below the priority level the meter alone is not enough. A hybrid inverter charges its battery with
whatever the house does not use: when the car draws more, the battery gets less and the grid
still reads 0 W, so "car power - grid power" keeps the car's current while it quietly takes the
battery's charge. :class:`BatteryPriority` therefore remembers the battery's charging power when
it was last evidently at its limit (the house exported at the same time, so the battery could have
taken more and did not) and takes the shortfall from that limit off the car's surplus. For the
same reason the PV-surplus control holds nothing below the priority level (it would be paid by
the battery's charge): the core tells it so (``SurplusReading.battery_priority``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BatteryRules:
    """The [battery] settings: priority_soc_pct (0..100) and car_may_discharge."""

    priority_soc_pct: float = 50.0
    car_may_discharge: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.priority_soc_pct, (int, float))
                and 0.0 <= self.priority_soc_pct <= 100.0):
            raise ValueError(f"[battery] priority_soc_pct = {self.priority_soc_pct!r}: "
                             "set a percentage from 0 to 100 (50 is the default).")

    def battery_has_priority(self, soc_pct: float | None) -> bool:
        """True while the battery keeps its charging power (below the level, or level unknown)."""
        if soc_pct is None or not math.isfinite(soc_pct):
            return True
        return soc_pct < self.priority_soc_pct

    def car_may_use_discharge(self, soc_pct: float | None) -> bool:
        return self.car_may_discharge and not self.battery_has_priority(soc_pct)


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0


def pv_counted_w(pv_ac_w: float, battery_w: float | None, soc_pct: float | None,
                 rules: BatteryRules) -> float:
    """PV the allowance rule counts: the AC-side PV (production minus charging), plus the
    battery's discharge only where the rules allow the car to use it. Never negative."""
    pv_w = max(0.0, _finite(pv_ac_w))
    discharging_w = max(0.0, _finite(battery_w))
    if discharging_w and rules.car_may_use_discharge(soc_pct):
        return pv_w + discharging_w
    return pv_w


def surplus_adjustment_w(battery_w: float | None, soc_pct: float | None,
                         rules: BatteryRules) -> float:
    """Watts to add to the meter's surplus (car power - grid power) for the battery.

    Positive: battery charging power the car may take (at or above the priority level).
    Negative: battery discharge the car must not count (unless the rules allow it).
    """
    battery = _finite(battery_w)
    if battery < 0:
        return 0.0 if rules.battery_has_priority(soc_pct) else -battery
    if battery > 0 and not rules.car_may_use_discharge(soc_pct):
        return -battery
    return 0.0


def surplus_for_car_w(car_w: float, grid_w: float, battery_w: float | None,
                      soc_pct: float | None, rules: BatteryRules) -> float:
    """The PV surplus the car may have in pv/minpv: what it draws now, minus what the grid
    supplies (plus export), adjusted for the battery by :func:`surplus_adjustment_w`."""
    return (max(0.0, _finite(car_w)) - _finite(grid_w)
            + surplus_adjustment_w(battery_w, soc_pct, rules))


def estimated_surplus_w(pv_ac_w: float, battery_w: float | None, soc_pct: float | None,
                        house_base_load_w: float, rules: BatteryRules) -> float:
    """Without a grid meter: PV that reaches the AC side (with the charging power the car may
    take, and the discharge it may use) minus the house's base load."""
    pv_w = max(0.0, _finite(pv_ac_w))
    battery = _finite(battery_w)
    if battery < 0 and not rules.battery_has_priority(soc_pct):
        pv_w += -battery
    elif battery > 0 and rules.car_may_use_discharge(soc_pct):
        pv_w += battery
    return pv_w - house_base_load_w


#: Export above this means the battery is charging at its limit (it would take the export else).
SATURATED_EXPORT_W = 100.0


class BatteryPriority:
    """The surplus adjustment with the battery's charging limit learned from the readings.

    ``limit_w`` is the battery's charging power the last time the house exported beside it (the
    battery was at its limit then), or the largest charging power seen since, whichever is
    larger: a battery tapering near full shows export and lowers the limit at once, a car taking
    the battery's charge never does.
    """

    def __init__(self, rules: BatteryRules) -> None:
        self.rules = rules
        self.limit_w = 0.0

    def observe(self, grid_w: float | None, battery_w: float | None) -> None:
        charging_w = max(0.0, -_finite(battery_w))
        if grid_w is not None and math.isfinite(grid_w) and grid_w < -SATURATED_EXPORT_W:
            self.limit_w = charging_w
        else:
            self.limit_w = max(self.limit_w, charging_w)

    def shortfall_w(self, battery_w: float | None) -> float:
        """How far the battery charges below its learned limit now."""
        return max(0.0, self.limit_w - max(0.0, -_finite(battery_w)))

    def surplus_adjustment_w(self, grid_w: float | None, battery_w: float | None,
                             soc_pct: float | None) -> float:
        """Like :func:`surplus_adjustment_w`, and below the priority level also minus the
        battery's shortfall from its limit (what the car takes from it). Call once per reading."""
        self.observe(grid_w, battery_w)
        adjustment_w = surplus_adjustment_w(battery_w, soc_pct, self.rules)
        if self.rules.battery_has_priority(soc_pct):
            adjustment_w -= self.shortfall_w(battery_w)
        return adjustment_w
