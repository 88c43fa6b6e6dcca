"""The Vestel EMS driver behind the charger interface (appliance.chargers.base)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..base import ChargerHealth, ChargerIdentity, ChargerReading
from .client import VestelClient, WallboxStatus
from .link import WallboxLink


def reading_from_status(status: WallboxStatus, at_s: float) -> ChargerReading:
    return ChargerReading(
        at_s=at_s, car_connected=status.car_connected, charging=status.charging,
        power_w=float(status.power_w), currents_a=status.currents_a, limit_a=status.limit_a,
        offered_a=float(status.setpoint_a), meter_wh=float(status.meter_wh),
        session_energy_wh=float(status.session_energy_wh),
    )


class EmsCharger:
    """A Vestel EVC04 driven through its EMS register map over Modbus TCP or RTU."""

    kind = "ems"

    def __init__(self, client: VestelClient, *, failsafe_current_a: int, failsafe_timeout_s: int,
                 clock: Callable[[], float] = time.monotonic, **link_options):
        self.client = client
        self.clock = clock
        self.link = WallboxLink(client, failsafe_current_a=failsafe_current_a,
                                failsafe_timeout_s=failsafe_timeout_s, clock=clock, **link_options)
        self.link_hint = client.fix_hint

    @classmethod
    def from_settings(cls, settings, clock: Callable[[], float] = time.monotonic, **link_options) -> "EmsCharger":
        w = settings.wallbox
        client = (VestelClient.tcp(w.host, w.port, w.unit_id) if w.transport == "tcp" else
                  VestelClient.rtu(w.serial_port, w.baudrate, w.parity, w.stopbits, w.unit_id))
        return cls(client, failsafe_current_a=settings.failsafe_current_a,
                   failsafe_timeout_s=w.failsafe_timeout_s, clock=clock, **link_options)

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()

    def set_setpoint(self, current_a: int) -> None:
        self.link.set_setpoint(current_a)

    def reading(self) -> ChargerReading | None:
        status, age_s = self.link.status, self.link.status_age_s
        if status is None or age_s is None:
            return None
        return reading_from_status(status, self.clock() - age_s)

    def health(self) -> ChargerHealth:
        return ChargerHealth(connected=self.link.connected, holding=self.link.connected,
                             problem=self.link.last_error)

    def identity(self) -> ChargerIdentity | None:
        i = self.link.identity
        if i is None:
            return None
        return ChargerIdentity(kind="ems", description=self.client.describe(), serial=i.serial,
                               model=f"{i.brand} {i.model}".strip(), firmware=i.firmware,
                               phases=3 if i.phases == 1 else 1 if i.phases == 0 else None)
