"""What the link makes of the status it reads: plausible or not, frozen or not, what changed.

Runs in the link's thread, right after each request, so a check always compares a read with the
writes that came before it (one thread: no write can slip in between).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .client import WallboxError, WallboxRefused, WallboxStatus, status_from_values
from .plausible import MAX_PHASE_CURRENT_A, implausible
from .registers import STATUS_GROUPS
from .schedule import StatusReads, StatusSchedule

if TYPE_CHECKING:
    from .link import WallboxLink

log = logging.getLogger("appliance.vestel")

GROUP_OF = {name: group for group, names in STATUS_GROUPS.items() for name in names}
# After 0 was written and the car unplugged, the box reads 6 back (reference/vestel-evc04.md).
PAUSE_READ_BACK_A = 6


class StatusKeeper:
    """Builds the status from the groups read, and acts on what it shows."""

    def __init__(self, link: WallboxLink, reads: StatusReads, schedule: StatusSchedule):
        self.link = link
        self.reads = reads
        self.schedule = schedule
        # Frozen answers: the box's clock (294, read with "detail") must change at least this often.
        self.frozen_after_s = max(10.0, 2.5 * schedule.detail_s)
        # The newest plausible status and when its "state" group was read, as one pair so that a
        # reader in another thread never pairs a status with another one's time.
        self.latest: tuple[WallboxStatus, float] | None = None
        self.problem: str | None = None           # a status register refused, or values implausible
        self.readback_problem: str | None = None  # the box keeps reading back another setpoint
        self.implausible_readings = 0
        self._implausible: dict[str, str] = {}
        self._refused: str | None = None
        self._state_at: float | None = None
        self._quick_until = float("-inf")
        self._box_time_seen: tuple[int, float] | None = None
        self._cable: int | None = None
        self._chargepoint: int | None = None
        self._readback_misses = 0
        self._failsafe_reported: tuple[int, int] | None = None

    @property
    def status(self) -> WallboxStatus | None:
        latest = self.latest
        return None if latest is None else latest[0]

    @property
    def status_at(self) -> float | None:
        latest = self.latest
        return None if latest is None else latest[1]

    def reconnected(self) -> None:
        self._box_time_seen = None
        self._cable = self._chargepoint = None
        self._readback_misses = 0
        self.readback_problem = None

    def quick(self, now: float) -> bool:
        """Read the car's state at the quick pace: it charges, or something just changed."""
        return now < self._quick_until or self.reads.values.get("charging_state") == 1

    def changed(self, now: float) -> None:
        self._quick_until = now + self.schedule.quick_after_change_s
        self.reads.hurry("state", now + self.schedule.quick_s)

    def written(self, now: float) -> None:
        """A setpoint write went through; a doubtful read-back is checked again soon (not at once:
        a box that keeps answering otherwise gets one write and one read every few seconds)."""
        if self._readback_misses:
            self.reads.hurry("detail", now + self.schedule.quick_s)

    def refused(self, exc: WallboxRefused) -> None:
        # The box is there (the heartbeat goes on) but refuses a status register: the status stays
        # incomplete, its age tells the core it is stale, and the log says so once.
        if self._refused is None:
            self.link._event(f"Wallbox status unavailable: {exc}")
        self._refused = self.problem = str(exc)

    # --- after each request ---------------------------------------------------------------------

    def absorb(self, values: dict[str, int | str], now: float) -> None:
        if "box_time" in values:
            self._check_clock(int(values["box_time"]), now)
        if "setpoint_a" in values:
            self._check_read_back(int(values["setpoint_a"]))
        if "cable_state" in values:
            cable, chargepoint = int(values["cable_state"]), self.reads.values.get("chargepoint_state")
            if (cable, chargepoint) != (self._cable, self._chargepoint) and self._cable is not None:
                self.changed(now)
                self.reads.hurry("limits", now)  # the cable's maximum comes and goes with it
            if self._cable is not None and self._cable < 2 <= cable <= 3 and self.link.confirmed_a is not None:
                # The box may have changed 5004 on its own while no car was there (0 reads back as 6).
                self.link._event(f"Car connected: setpoint {self.link.confirmed_a} A written again.")
                self.link.rewrite = True
            self._cable, self._chargepoint = cable, chargepoint

    def _check_clock(self, box_time: int, now: float) -> None:
        seen = self._box_time_seen
        if seen is None or seen[0] != box_time:
            self._box_time_seen = (box_time, now)
        elif now - seen[1] > self.frozen_after_s:
            raise WallboxError(
                f"The wallbox's clock (register 294) has not changed for {now - seen[1]:.0f} s: its answers "
                "are frozen; reopening the connection."
            )

    def _check_read_back(self, value: int) -> None:
        confirmed = self.link.confirmed_a
        if confirmed is None or value > MAX_PHASE_CURRENT_A:
            return  # nothing to compare with, or implausible (reported by group_done)
        unplugged = int(self.reads.values.get("cable_state", 0)) < 2
        if value == confirmed or (confirmed == 0 and value == PAUSE_READ_BACK_A and unplugged):
            if self.readback_problem is not None:
                self.link._event(f"The wallbox reads back the setpoint {confirmed} A again: heartbeat resumed.")
            self._readback_misses, self.readback_problem = 0, None
            return
        self._readback_misses += 1
        if self._readback_misses == 1:
            self.link._event(
                f"The wallbox reports {value} A in register 5004 instead of the {confirmed} A it was given "
                "(restarted?): failsafe and setpoint written again."
            )
            self.link.write_failsafe_again()
            return
        self.link.rewrite = True
        if self.readback_problem is None:
            self.readback_problem = (
                f"The wallbox keeps reporting {value} A in register 5004 although {confirmed} A was written: "
                f"it does not hold the setpoint, so the heartbeat is stopped and the box falls back to its "
                f"failsafe current of {self.link.failsafe_current_a} A until it reads back what it was given."
            )
            self.link._event(self.readback_problem)

    # --- after each group --------------------------------------------------------------------------

    def group_done(self, group: str, now: float) -> None:
        if group == "state":
            self._state_at = now
        if not self.reads.complete():
            return
        identity = self.link.identity
        found = implausible(self.reads.values, phases=identity.phases if identity is not None else 3)
        self._note_implausible(found, now)
        if found:
            self.latest = None
            return
        status = status_from_values(self.reads.values)
        if group == "limits":
            self._check_failsafe(status)
        self.latest = (status, self._state_at if self._state_at is not None else now)
        self._refused = self.problem = None

    def _note_implausible(self, found: dict[str, str], now: float) -> None:
        for name, why in found.items():
            if name not in self._implausible:
                log.warning("Wallbox reading not used: %s; treated as not known until it is plausible again.", why)
            self.reads.hurry(GROUP_OF[name], now + self.schedule.quick_s)  # re-read soon, not in 2 minutes
        if found:
            self.implausible_readings += 1
            self.problem = "Wallbox reading not used: " + "; ".join(found.values()) + "."
        elif self._implausible:
            self.link._event(
                f"Wallbox readings are plausible again ({self.implausible_readings} implausible readings ignored)."
            )
        self._implausible = dict(found)

    def _check_failsafe(self, status: WallboxStatus) -> None:
        reported = (status.failsafe_current_a, status.failsafe_timeout_s)
        if reported == (self.link.failsafe_current_a, self.link.failsafe_timeout_s):
            self._failsafe_reported = None
            return
        if reported != self._failsafe_reported:
            # The box lost them (restarted without the connection dropping, e.g. on RS-485).
            self.link._event(
                f"Wallbox reports failsafe {reported[0]} A after {reported[1]} s instead of "
                f"{self.link.failsafe_current_a} A after {self.link.failsafe_timeout_s} s (restarted?): "
                "failsafe and setpoint written again."
            )
            self._failsafe_reported = reported
        self.link.write_failsafe_again()
