"""When the core next needs a tick although nothing arrives: its deadlines.

The control thread does not tick the core every second: it ticks it when something arrives (a
push, a command, a wallbox reading) and otherwise sleeps until `next_tick_s`, the earliest moment
at which the decision or the status could change by the passing of time alone:

- the inverter data (PV, and the grid meter for the import limit and the surplus) turns stale:
  from then on the allowance alone counts (safety rule 2), so this tick lowers the current;
- the wallbox reading turns stale, or a wallbox that never answered counts as offline;
- a timed pause ends, a schedule window starts or ends (local wall clock, DST-proof);
- a raise the ramp held back becomes due (the decision's raise_in_s);
- 1p/3p switching: the surplus has been past a threshold for decide_after_s, the pause after a
  switch is over, a switch waits for the current to reach 0, a switch of the last 24 h leaves
  the daily count, or the last tick changed the surplus the decider sees next;
- mode and pause could not be written to the card: the write is retried every STATE_RETRY_S.

Pure: reads the core, returns a time on the core's monotonic clock (math.inf: nothing is due).
The runtime adds what belongs to it (the screen's clock, the backlight, the watchdog, a bounded
look at the wallbox) and sleeps no longer than its safety net.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from .policy.phases import DAY_S, PhaseReason

if TYPE_CHECKING:  # the core imports this module
    from .core import ApplianceCore, Clocks

#: A state.json the card refused is tried again this often (the card may be full for hours).
STATE_RETRY_S = 10.0
#: While a 1p/3p switch waits for the current to reach 0 (or the decider is a tick behind the
#: surplus), the core is ticked this often, as it was ticked every second before.
PHASE_POLL_S = 1.0
#: A wallbox that has not answered this long after the start counts as offline (core.py).
OFFLINE_AFTER_S = 5.0
#: Deadlines are met a millisecond late rather than a rounding error early (a reading at 0.1 s
#: is stale at 60.1 s, and 60.1 - 0.1 < 60 in floating point).
MARGIN_S = 1e-3


def next_tick_s(core: "ApplianceCore", clocks: "Clocks") -> float:
    """The monotonic time of the next tick the core needs by itself (see the module docstring)."""
    now = clocks.mono_s
    due = [_data_stale_s(core, now), _wallbox_due_s(core, now), phases_due_s(core, now)]
    state = core.state
    if state.paused and state.pause_until_epoch_s is not None:
        due.append(now + max(0.0, state.pause_until_epoch_s - clocks.epoch_s))
    if core.schedule:
        due.append(now + schedule_change_in_s(core.schedule, clocks.local))
    d = core.decision
    if d is not None and d.raise_in_s is not None:
        due.append(now + d.raise_in_s)
    if core.store is not None and core.store.waiting:
        due.append(now + STATE_RETRY_S)
    return min(due) + MARGIN_S


def _data_stale_s(core: "ApplianceCore", now: float) -> float:
    """When the newest PV or grid reading turns stale (it is fresh while younger than the limit)."""
    stale_after_s = core.controller.cfg.stale_after_s
    r = core.readings
    due = math.inf
    for at_s in (r.pv_at_s, r.grid_at_s):
        if at_s is not None and 0.0 <= now - at_s < stale_after_s:
            due = min(due, at_s + stale_after_s)
    return due


def _wallbox_due_s(core: "ApplianceCore", now: float) -> float:
    from .core import WALLBOX_READING_STALE_S

    reading, health = core.reading, core.health
    if health is not None and not health.connected:
        started_s = core._started_s
        if started_s is not None and now - started_s <= OFFLINE_AFTER_S:
            return started_s + OFFLINE_AFTER_S   # "starting" becomes "offline"
        return math.inf
    if reading is not None and 0.0 <= now - reading.at_s < WALLBOX_READING_STALE_S:
        return reading.at_s + WALLBOX_READING_STALE_S
    return math.inf


def phases_due_s(core: "ApplianceCore", now: float) -> float:
    decider = core.phase_decider
    if decider is None or not decider.can_switch:
        return math.inf
    state, cfg = decider.state, decider.cfg
    due = [math.inf]
    if state.settle_until_s is not None:
        due.append(state.settle_until_s)
    if state.switching_to is not None:
        due.append(now + PHASE_POLL_S)
    if state.wanted_since_s is not None:
        due.append(state.wanted_since_s + cfg.decide_after_s)
    command = core.phase_command
    if command is not None and command.reason is PhaseReason.DAILY_LIMIT and state.switch_times_s:
        due.append(min(state.switch_times_s) + DAY_S)
    if phase_surplus_w(core, core.status_reading()) != core.phase_surplus_seen_w:
        due.append(now + PHASE_POLL_S)
    return min(due)


def phase_surplus_w(core: "ApplianceCore", usable) -> float | None:
    """The surplus the phase decider weighs (core._phases): the last decision's, with a car and
    fresh data. Here too, to see whether the last tick changed it."""
    d = core.decision
    if usable is None or not usable.car_connected or d is None or not d.data_fresh \
            or core.state.pause_active(core._epoch_s):
        return None
    return d.budget_w if d.mode == "fast" else d.surplus_w if d.mode != "off" else None


def schedule_change_in_s(schedule: Iterable, local_now: datetime) -> float:
    """Seconds until the next start or end of a schedule window. Counted on the real clock, not the
    wall clock: across a change to or from summer time the wall clock skips or repeats an hour."""
    best = math.inf
    for window in schedule:
        for t in (window.start, window.end):
            at = local_now.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
            if at <= local_now:
                at += timedelta(days=1)
            best = min(best, at.timestamp() - local_now.timestamp())
    return max(0.0, best)
