"""The Vestel EMS driver behind the charger interface (appliance.chargers.base)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..base import ChargerHealth, ChargerIdentity, ChargerReading, change_watch
from .client import VestelClient, WallboxStatus
from .link import WallboxLink


def fault_sentence(status: WallboxStatus) -> str | None:
    if status.fault_code == 0 and status.equipment_state != 2 and status.chargepoint_state != 8:
        return None
    return (f"The wallbox reports a fault (code {status.fault_code}, equipment state {status.equipment_state}, "
            f"chargepoint state {status.chargepoint_state}): see its LEDs and its web interface.")


def reading_from_status(status: WallboxStatus, at_s: float, phases: int | None = None) -> ChargerReading:
    """`phases`: what 405 holds on a box that switches; otherwise counted from the currents."""
    return ChargerReading(
        at_s=at_s, car_connected=status.car_connected, charging=status.charging,
        power_w=float(status.power_w), currents_a=status.currents_a, limit_a=status.limit_a,
        offered_a=float(status.setpoint_a), meter_wh=float(status.meter_wh),
        session_energy_wh=float(status.session_energy_wh),
        phases_in_use=phases or sum(1 for a in status.currents_a if a >= 1.0) or None,
        fault=fault_sentence(status),
    )


class EmsCharger:
    """A Vestel EVC04 driven through its EMS register map over Modbus TCP or RTU.

    Also a PhaseSwitcher (appliance.chargers.base): a 3-phase box with firmware >= 3.187 switches
    between one and three phases through register 405 (see phases.py).
    """

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
        link_options.setdefault("phase_switch_pause_s", w.phase_switch_pause_s)
        return cls(client, failsafe_current_a=settings.failsafe_current_a,
                   failsafe_timeout_s=w.failsafe_timeout_s, clock=clock, **link_options)

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()

    def set_setpoint(self, current_a: int) -> None:
        self.link.set_setpoint(current_a)

    def reading(self) -> ChargerReading | None:
        latest = self.link.status_keeper.latest
        if latest is None:
            return None
        switch = self.link.phase_switch
        return reading_from_status(*latest, phases=switch.written if switch.supported else None)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Calls `callback` from the link's thread, after its turn, when something the core decides
        on changed (see appliance.chargers.base.change_watch)."""
        self.link.after_turn = change_watch(self.reading, self.health, callback)

    def can_switch_phases(self) -> bool:
        """True once the box answered register 405 (a 3-phase box, firmware >= 3.187)."""
        return self.link.phase_switch.can_switch()

    def set_phases(self, phases: int) -> None:
        """Hand over 1 or 3: the link pauses, switches, waits and resumes. Never blocks, never raises."""
        self.link.set_phases(phases)

    def health(self) -> ChargerHealth:
        return self.link.health()

    def identity(self) -> ChargerIdentity | None:
        i = self.link.identity
        if i is None:
            return None
        return ChargerIdentity(kind="ems", description=self.client.describe(), serial=i.serial,
                               model=f"{i.brand} {i.model}".strip(), firmware=i.firmware,
                               phases=i.phases, details={"max_power_w": i.max_power_w,
                                                         "chargepoint_id": i.chargepoint_id})
