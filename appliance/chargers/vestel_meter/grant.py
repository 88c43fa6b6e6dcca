"""Grant tracking: which current the emulated meter reports so that the box grants what we want.

A basic EVC04 runs its own loop on the current its meter reports (andicoder/evc04 docs/SPECS.md,
section 6): below its DIP limit it grants the car its draw plus the headroom, from the limit to
0.5 A over it holds (only while the car draws), above that it sheds floor(excess) A each
evaluation, and about 2-4 A over it cuts the session. We read its grant (`lb current`) from the
LOG and steer it:

- grant more than 1 A above the wanted current: report limit + clamp(difference, 1, 2) A, the
  box sheds that much at its next evaluation, and never so much that the shed lands in its 6 A
  floor (a shed of 2 A or more landing at or below 6 A drops the session);
- grant within 1 A of the wanted current: report exactly the limit, the box holds;
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
HOLD_BAND_A = 1     # within this of the wanted current the grant counts as reached


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
    difference = grant - wanted
    if difference > HOLD_BAND_A:
        shed = min(difference, MAX_SHED_A, grant - (min_current_a + 1))
        return float(limit + max(shed, 0))
    if difference >= -HOLD_BAND_A:
        return float(limit)
    return float(limit - (wanted - grant))
