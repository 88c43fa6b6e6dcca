"""Switching the Vestel EMS box between one and three phases (register 405, firmware >= 3.187).

A switch never happens under load: the link pauses charging (setpoint 0), waits half the pause,
switches only once a fresh status shows the car no longer draws current, waits the other half and
then gives the car its setpoint again. Register 405 resets when the TCP connection drops, so the
link writes it again after every reconnect, before the setpoint (safety rule 6).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING

from .client import WallboxRefused
from .registers import HOLDING, REGISTERS, ReadRun

if TYPE_CHECKING:
    from .link import WallboxLink

MIN_FIRMWARE = (3, 187)
PHASE_SWITCH_READ = ReadRun(HOLDING, REGISTERS["phase_switch"].address, 1, (REGISTERS["phase_switch"],))


def firmware_at_least(firmware: str, minimum: tuple[int, int] = MIN_FIRMWARE) -> bool:
    """"v3.187.0" >= (3, 187); an unreadable version is not."""
    match = re.search(r"(\d+)\.(\d+)", firmware)
    return match is not None and (int(match[1]), int(match[2])) >= minimum


def register_value(phases: int) -> int:
    return 1 if phases == 3 else 0


class Stage(Enum):
    IDLE = "idle"
    PAUSING = "pausing"      # setpoint 0, waiting for the car to stop drawing
    SETTLING = "settling"    # switched, waiting before the car gets current again


class PhaseSwitch:
    """The switch's state, owned by the link's thread; `wanted` is handed over by the core."""

    def __init__(self, link: WallboxLink, pause_s: float):
        self.link = link
        self.pause_s = pause_s
        self.wanted: int | None = None      # 1 or 3, from set_phases
        self.written: int | None = None     # what 405 holds on this connection, as far as the link knows
        self.supported: bool | None = None  # 405 answered a read (None: not asked yet)
        self.stage = Stage.IDLE
        self._until = 0.0
        self.switches = 0

    def can_switch(self) -> bool:
        identity = self.link.identity
        return bool(self.supported) and (identity is None or identity.phases == 3)

    def pausing(self) -> bool:
        return self.stage is not Stage.IDLE

    def next_due_at(self) -> float:
        return self._until if self.stage is not Stage.IDLE else float("inf")

    def worth_asking(self) -> bool:
        """Read 405 only where it can exist: a 3-phase box with firmware >= 3.187 (or unknown)."""
        identity = self.link.identity
        return identity is None or (identity.phases == 3 and firmware_at_least(identity.firmware))

    def read(self) -> None:
        """Ask the box once whether it has 405 (after its identity is known)."""
        if not self.worth_asking():
            self.answered(None)
            return
        try:
            value = self.link.client.read_run(PHASE_SWITCH_READ)["phase_switch"]
        except WallboxRefused:
            self.answered(None)  # older firmware: no phase switching, nothing else changes
            return
        self.answered(int(value))

    def answered(self, value: int | None) -> None:
        """The read of 405 after the first connect: None when the box refused it."""
        self.supported = value is not None
        if value is not None:
            self.written = 3 if value == 1 else 1

    def reconnected(self) -> None:
        """405 fell back to the box's default with the connection: write what the core wants again."""
        self.written = None
        if self.supported and self.wanted is not None and self._write(self.wanted):
            self.written = self.wanted

    def turn(self, now: float) -> None:
        """One step of a switch; called by the link after the setpoint turn."""
        wanted = self.wanted
        if not self.supported or wanted is None or self.written is None:
            return
        if self.stage is Stage.IDLE:
            if wanted != self.written:
                self.stage, self._until = Stage.PAUSING, now + self.pause_s / 2
                self.link.status_keeper.changed(now)
                self.link._event(f"Switching to {wanted} phase{'s' if wanted > 1 else ''}: charging paused "
                                 f"for {self.pause_s:g} s around the switch.")
        elif self.stage is Stage.PAUSING and now >= self._until:
            self._switch_if_stopped(now, wanted)
        elif self.stage is Stage.SETTLING and now >= self._until:
            self.stage = Stage.IDLE
            self.link._event(f"Charging resumes on {self.written} phase{'s' if self.written > 1 else ''}.")

    def _switch_if_stopped(self, now: float, wanted: int) -> None:
        latest = self.link.status_keeper.latest
        fresh = latest is not None and latest[1] > self._until - self.pause_s / 2
        if self.link.confirmed_a != 0 or not fresh or latest[0].charging:
            # Never switch under load: stay on the phases in use and say so.
            self.stage, self.wanted = Stage.IDLE, self.written
            self.link._event(
                f"Phases not switched to {wanted}: the car still drew current (or no fresh status came) "
                f"{self.pause_s / 2:g} s after charging was paused; staying on {self.written}."
            )
            return
        if not self._write(wanted):
            self.stage = Stage.IDLE
            return
        self.written = wanted
        self.switches += 1
        self.stage, self._until = Stage.SETTLING, now + self.pause_s / 2

    def _write(self, phases: int) -> bool:
        """Write 405; a box that refuses it cannot switch, and charges on as it is."""
        try:
            self.link.client.write_register("phase_switch", register_value(phases))
        except WallboxRefused as exc:
            self.supported = False
            self.link._event(f"Phase switching is off: {exc}")
            return False
        return True
