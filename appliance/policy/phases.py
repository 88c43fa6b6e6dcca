"""1p/3p switching decisions: when to charge on one phase and when on three.

One phase carries 1.4 to 7.4 kW (6-32 A x 230 V), three phases 4.1 to 22 kW. With a PV surplus
below the three-phase minimum (winter, evenings, clouds) one phase lets the car take the sun that
three phases would leave to the grid.

Rules:
- Own thresholds, apart from the start/stop ones: go to one phase when the surplus stays below
  `one_phase_below_w` (and still carries the one-phase minimum) for `decide_after_s`; go to three
  phases when it stays above `three_phase_above_w` for `decide_after_s`. Between the two nothing
  changes (hysteresis).
- A switch never happens under load: the decision first holds the current at 0, waits until the
  wallbox reports 0 A, then asks for the new phase count, then keeps the current at 0 for
  `pause_s` (the car's charger restarts on the new phases), then lets the current go.
- At most `max_switches_per_day` switches in any 24 hours (a rolling window: it needs no wall
  clock and holds across midnight too).
- No switcher, no switching: with `can_switch` False (the basic box, or an EMS box whose firmware
  lacks the phase registers) the phases in use stay as they are and the current is never held.
- The allowance rule counts the phases in use: the caller computes watts per amp from the phases
  in force, which this module reports (`PhaseCommand.phases`) only once the switch was asked for.

Pure: a clock and the readings in, a command out; `PhaseDecider` keeps the frozen state between
calls.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

DAY_S = 86_400.0


class PhaseReason(enum.Enum):
    STEADY = "steady"               # nothing to do
    NO_SWITCHER = "no_switcher"     # the wallbox cannot switch phases
    CONSIDERING = "considering"     # the surplus is past a threshold; waiting decide_after_s
    PAUSING = "pausing"             # current held at 0 before the switch
    SETTLING = "settling"           # switched; current held at 0 for pause_s
    DAILY_LIMIT = "daily_limit"     # a switch would help but the day's switches are used up


@dataclass(frozen=True)
class PhaseSettings:
    """When to switch between one and three phases, and how long to wait."""

    one_phase_below_w: float = 3700.0
    three_phase_above_w: float = 4500.0
    pause_s: float = 120.0
    max_switches_per_day: int = 4
    decide_after_s: float = 60.0
    min_current_a: int = 6
    voltage_v: float = 230.0

    @classmethod
    def from_settings(cls, settings) -> "PhaseSettings":
        """From the settings file's [wallbox] and [grid] tables (appliance.config.Settings)."""
        w = settings.wallbox
        return cls(one_phase_below_w=float(w.one_phase_below_w),
                   three_phase_above_w=float(w.three_phase_above_w),
                   pause_s=float(w.phase_switch_pause_s),
                   max_switches_per_day=w.max_phase_switches_per_day,
                   min_current_a=w.min_current_a, voltage_v=settings.grid.voltage_v)


@dataclass(frozen=True)
class PhaseCommand:
    """A decision to switch the phase count."""

    phases: int                     # the phase count to ask the wallbox for (and count with)
    hold_current: bool              # True: the current must be 0 now (a switch is under way)
    reason: PhaseReason
    switches_in_24h: int = 0


@dataclass(frozen=True)
class PhaseState:
    """What the 1p/3p decision remembers between two moments."""

    wanted_phases: int | None = None   # the phase count the surplus asks for
    wanted_since_s: float | None = None
    switching_to: int | None = None    # pausing before a switch to this phase count
    settle_until_s: float | None = None
    switch_times_s: tuple[float, ...] = ()


def wanted_phases(surplus_w: float, phases_in_use: int, cfg: PhaseSettings) -> int:
    """The phase count this surplus asks for (the one in use between the thresholds)."""
    one_phase_min_w = cfg.min_current_a * cfg.voltage_v
    if surplus_w > cfg.three_phase_above_w:
        return 3
    if one_phase_min_w <= surplus_w < cfg.one_phase_below_w:
        return 1
    return phases_in_use


def step(state: PhaseState, now_s: float, surplus_w: float | None, phases_in_use: int,
         current_a: int, can_switch: bool, cfg: PhaseSettings) -> tuple[PhaseState, PhaseCommand]:
    """One decision. `current_a` is what the wallbox offers now (a switch waits for 0)."""
    if not can_switch:
        # The day's switches still count when the switcher comes back (a reconnect).
        return PhaseState(switch_times_s=state.switch_times_s), \
            PhaseCommand(phases_in_use, False, PhaseReason.NO_SWITCHER)
    recent = tuple(t for t in state.switch_times_s if now_s - t < DAY_S)
    state = replace(state, switch_times_s=recent)
    if state.settle_until_s is not None:
        if now_s < state.settle_until_s:
            return state, PhaseCommand(phases_in_use, True, PhaseReason.SETTLING, len(recent))
        state = replace(state, settle_until_s=None)
    if state.switching_to is not None:
        if current_a > 0:
            return state, PhaseCommand(phases_in_use, True, PhaseReason.PAUSING, len(recent))
        target = state.switching_to
        recent += (now_s,)
        state = PhaseState(settle_until_s=now_s + cfg.pause_s, switch_times_s=recent)
        return state, PhaseCommand(target, True, PhaseReason.SETTLING, len(recent))
    return _consider(state, now_s, surplus_w, phases_in_use, cfg)


def _consider(state: PhaseState, now_s: float, surplus_w: float | None, phases_in_use: int,
              cfg: PhaseSettings) -> tuple[PhaseState, PhaseCommand]:
    used = len(state.switch_times_s)
    if surplus_w is None:
        return replace(state, wanted_phases=None, wanted_since_s=None), \
            PhaseCommand(phases_in_use, False, PhaseReason.STEADY, used)
    want = wanted_phases(surplus_w, phases_in_use, cfg)
    if want == phases_in_use:
        return replace(state, wanted_phases=None, wanted_since_s=None), \
            PhaseCommand(phases_in_use, False, PhaseReason.STEADY, used)
    if state.wanted_phases != want:
        state = replace(state, wanted_phases=want, wanted_since_s=now_s)
    if now_s - state.wanted_since_s < cfg.decide_after_s:
        return state, PhaseCommand(phases_in_use, False, PhaseReason.CONSIDERING, used)
    if used >= cfg.max_switches_per_day:
        return state, PhaseCommand(phases_in_use, False, PhaseReason.DAILY_LIMIT, used)
    state = replace(state, wanted_phases=None, wanted_since_s=None, switching_to=want)
    return state, PhaseCommand(phases_in_use, True, PhaseReason.PAUSING, used)


class PhaseDecider:
    """Keeps the PhaseState between calls; `can_switch` False = a wallbox without a switcher."""

    def __init__(self, cfg: PhaseSettings | None = None, can_switch: bool = True) -> None:
        self.cfg = cfg or PhaseSettings()
        self.can_switch = can_switch
        self.state = PhaseState()

    def decide(self, now_s: float, surplus_w: float | None, phases_in_use: int,
               current_a: int) -> PhaseCommand:
        self.state, command = step(self.state, now_s, surplus_w, phases_in_use, current_a,
                                   self.can_switch, self.cfg)
        return command
