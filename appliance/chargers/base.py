"""What the core needs from any wallbox: a small interface, in the spirit of evcc's api/api.go.

A driver owns its transport and its thread. The runtime hands it the setpoint (never blocking,
never raising) and reads back two plain records:

- `reading()`: the newest *plausible* reading of the box, or None. A driver never hands out a
  value outside physical bounds (it logs it once with the value and why, counts it, and treats the
  reading as not known). Whether a plausible reading is still *usable* (fresh enough, link up) is
  decided in one place: `appliance.core` (see `usable_reading`).
- `health()`: is the box there, and does it hold the appliance's setpoint? When a driver cannot
  write or confirm the setpoint it lets the box fall back to its own safe state (EMS: the heartbeat
  stops; meter emulation: the pause posture) and says so here.

Extra abilities are separate small protocols (`PhaseSwitcher`), checked with isinstance, so the
core never assumes a basic box can switch phases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ChargerReading:
    """One plausible reading of the wallbox. Times are the appliance's monotonic clock in seconds."""

    at_s: float                                  # when it was read
    car_connected: bool
    charging: bool                               # the car draws current now
    power_w: float                               # what the box delivers now (its own meter)
    currents_a: tuple[float, float, float]       # per phase
    limit_a: int | None                          # smallest maximum the box reports (session, EVSE,
                                                 # cable; a basic box: its DIP limit); None = not known
    offered_a: float | None = None               # what the box offers the car now (grant / read-back)
    meter_wh: float | None = None                # lifetime energy counter, for sessions
    session_energy_wh: float | None = None
    phases_in_use: int | None = None             # None = not known
    fault: str | None = None                     # the box reports a fault: a sentence


@dataclass(frozen=True)
class ChargerHealth:
    """Is the box there, and does it hold the appliance's setpoint?"""

    connected: bool                 # the transport is up and the box answers (or polls, basic box)
    holding: bool                   # the box holds the setpoint the appliance gave it (confirmed)
    problem: str | None = None      # what is wrong, a sentence that names the fix; None = fine
    setpoint_a: int | None = None   # the setpoint the box confirmed last


@dataclass(frozen=True)
class ChargerIdentity:
    kind: str                       # "ems" or "meter"
    description: str                # "Vestel EVC04 at 192.168.1.20:502 (Modbus TCP, unit 255)"
    serial: str = ""
    model: str = ""
    firmware: str = ""
    phases: int | None = None
    details: dict = field(default_factory=dict)


@runtime_checkable
class Charger(Protocol):
    kind: str           # "ems" or "meter"
    link_hint: str      # what to check when the box does not answer, fitting the link in use

    def start(self) -> None:
        """Start the driver's own thread; returns at once."""

    def stop(self) -> None:
        """Stop the thread and release the transport."""

    def set_setpoint(self, current_a: int) -> None:
        """Hand over the setpoint (0 or min..limit A) and wake the driver. Never waits for the box (at
        most a few ms for an idle driver thread to take it up), never raises."""

    def reading(self) -> ChargerReading | None:
        """The newest plausible reading, or None."""

    def health(self) -> ChargerHealth:
        """Link state right now."""

    def identity(self) -> ChargerIdentity | None:
        """Who answered; None until known."""

    # Optional: `on_change(callback)`, the callback called from the driver's thread (never blocking)
    # when reading() or health() changed. The runtime then runs a control cycle at once; a driver
    # without it is looked at every few seconds (runtime.CHARGER_LOOK_S). Both Vestel drivers have
    # it (change_watch below); the runtime still looks every few seconds for what time alone changes.


@runtime_checkable
class PhaseSwitcher(Protocol):
    """A box that can switch between one and three phases (Vestel EMS, firmware >= 3.187)."""

    def can_switch_phases(self) -> bool:
        """True once the box has shown that it supports switching."""

    def set_phases(self, phases: int) -> None:
        """Hand over 1 or 3; the driver pauses, switches and resumes. Never blocks, never raises."""


def change_watch(reading: Callable[[], ChargerReading | None], health: Callable[[], ChargerHealth],
                 callback: Callable[[], None]) -> Callable[[], None]:
    """For a driver's `on_change`: a function the driver's thread calls after each look at the box.
    It calls `callback` when something the core decides on changed: the car plugged in or out,
    starting or stopping, the box's limit, phases, fault or offer, the link's connection or hold.
    Power and energy, which move with every look while the car charges, are left to the next push
    or the runtime's regular look. `reading` must not log or count: it is called at every look."""
    seen: list = [None]

    def compare() -> None:
        r, h = reading(), health()
        now = (None if r is None else (r.car_connected, r.charging, r.limit_a, r.phases_in_use,
                                        r.fault, r.offered_a),
               h.connected, h.holding, h.problem is None, h.setpoint_a)
        if now != seen[0]:
            seen[0] = now
            callback()

    return compare
