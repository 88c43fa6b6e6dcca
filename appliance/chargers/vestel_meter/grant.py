"""Grant tracking: which current the emulated meter reports so that the box grants what we want.

A basic EVC04 runs its own loop on the current its meter reports (andicoder/evc04 docs/SPECS.md,
section 6): below its DIP limit it grants the car its draw plus the headroom, from the limit to
0.5 A over it holds (only while the car draws), above that it sheds floor(excess) A each
evaluation, and about 2-4 A over it cuts the session. We read its grant (`lb current`) from the
LOG and steer it:

- grant above the wanted current: report limit + clamp(difference, 1, 2) A, the box sheds that
  much at its next evaluation; never a 2 A shed landing at or below its 6 A floor (that drops the
  session), a 1 A shed down to 6 A is fine. Above wins over "within 1 A": a grant that stayed
  1 A over the setpoint would break the grid allowance for good;
- grant at the wanted current or up to 1 A below it: report exactly the limit, the box holds;
- grant lower: report the missing amps as headroom, limit - (wanted - grant);
- the car draws under 6 A (contactor lag, ramp): report limit - wanted + draw, which holds the
  offer at the wanted current while the car gets going;
- pause: limit + 4 A, over the box's cut threshold, so a session stops and none starts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MIN_CURRENT_A = 6
PAUSE_MARGIN_A = 4
MAX_SHED_A = 2      # the box's strongest shed without risking its cut (cut at roughly 2-4 A over)
HOLD_BAND_A = 1     # a grant this far below the wanted current counts as reached


class Posture(enum.Enum):
    TRACKING = "tracking"       # steering the grant towards the setpoint
    PAUSED = "paused"           # setpoint 0
    UNDECIDED = "undecided"     # the core has not given a setpoint yet
    LOG_STALE = "log stale"     # no LOG feedback: steering blind is not allowed


PAUSE_REASONS = {
    Posture.PAUSED: "Charging is paused (setpoint 0): the emulated meter reports the limit + 4 A, so the wallbox does not charge.",
    Posture.UNDECIDED: "Waiting for the first decision: the emulated meter reports the pause posture until then.",
    Posture.LOG_STALE: ("No LOG lines from the wallbox for {age_s:.0f} s (limit {stale_s:.0f} s): charging is paused. "
                        "Check the LOG wiring (CN28 TX/RX over the second RS-485 pair) and the log port setting."),
}


@dataclass(frozen=True)
class GrantInputs:
    limit_a: int                # the DIP limit
    wanted_a: int               # the appliance's setpoint (0 = pause)
    grant_a: int | None         # the box's `lb current`; None = not known (no session yet)
    car_draw_a: float           # largest phase current the box measures


def pause_report_a(limit_a: int) -> float:
    return float(limit_a + PAUSE_MARGIN_A)


def reported_current_a(inputs: GrantInputs, min_current_a: int = MIN_CURRENT_A) -> float:
    """The per-phase current the emulated meter reports now."""
    limit = inputs.limit_a
    wanted = min(inputs.wanted_a, limit)
    if wanted < min_current_a:
        return pause_report_a(limit)
    draw = max(0.0, inputs.car_draw_a)
    if draw < min_current_a:
        # Contactor lag and ramp: headroom on top of the draw keeps the grant at `wanted`.
        return float(limit - wanted + draw)
    grant = inputs.grant_a or 0
    if grant > wanted:
        return float(limit + _shed_a(grant, wanted, min_current_a))
    if grant >= wanted - HOLD_BAND_A:
        return float(limit)
    return float(limit - (wanted - grant))


def _shed_a(grant_a: int, wanted_a: int, min_current_a: int) -> int:
    """How many amps to ask the box to shed: at most 2, and never a 2 A step into its 6 A floor."""
    shed = min(grant_a - wanted_a, MAX_SHED_A)
    if shed >= 2 and grant_a - shed <= min_current_a:
        shed = 1
    return max(shed, 1) if grant_a - 1 >= min_current_a else 0


def evaluations_to_shed(over_a: int, wanted_a: int, min_current_a: int = MIN_CURRENT_A) -> int:
    """How many of the box's evaluations a grant `over_a` above `wanted_a` takes to come down:
    2 A an evaluation, but only 1 A at a time for the steps that land at or below the 6 A floor + 1."""
    evaluations, grant = 0, wanted_a + over_a
    while grant > wanted_a:
        grant -= _shed_a(grant, wanted_a, min_current_a) or 1
        evaluations += 1
    return evaluations
