"""A small house with a hybrid inverter and a home battery, for the battery tests.

The inverter's own battery control, as a GEN24 does it: PV first covers the house and the car,
what is left charges the battery up to its charging power and the rest is exported; a shortfall
is covered by the battery up to its discharging power and the rest is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class House:
    production_w: float
    house_w: float          # consumption without the car
    car_w: float
    soc_pct: float
    max_charge_w: float = 3000.0
    max_discharge_w: float = 3000.0

    def flows(self) -> tuple[float, float]:
        """(grid_w, battery_w) in Fronius signs: grid + import, battery - charging."""
        net_w = self.production_w - self.house_w - self.car_w
        if net_w >= 0:
            charge_w = min(net_w, self.max_charge_w) if self.soc_pct < 100 else 0.0
            return -(net_w - charge_w), -charge_w
        discharge_w = min(-net_w, self.max_discharge_w) if self.soc_pct > 5 else 0.0
        return -net_w - discharge_w, discharge_w

    def document(self, *, push: bool = True) -> bytes:
        """The power flow the inverter reports, push layout (Body) or polled (Body.Data)."""
        grid_w, battery_w = self.flows()
        data = {
            "Site": {"Mode": "bidirectional", "Meter_Location": "grid",
                     "P_PV": self.production_w, "P_Grid": grid_w, "P_Akku": battery_w,
                     "P_Load": -(self.house_w + self.car_w)},
            "Inverters": {"1": {"DT": 1, "Battery_Mode": "normal", "SOC": self.soc_pct,
                                "P": self.production_w + battery_w}},
            "Version": "13",
        }
        body = data if push else {"Data": data}
        return json.dumps({"Head": {"Status": {"Code": 0}, "RequestArguments": {},
                                    "Timestamp": "2025-06-01T12:00:00+02:00"},
                           "Body": body}).encode()
