"""An evcc-like PV controller, for comparison only: what evcc's documented PV mode would do here.

Written from evcc's documentation and defaults, not from its code:

- It decides once per cycle, `interval_s` = 30 s, from the grid meter's latest reading ("site
  power", + import) and the current it offered last.
- The current it may offer is the offered current plus the exported power in amps on the phases in
  use, cut down to whole amps (the Vestel takes whole amps only), at most the maximum current.
- Start (enable): once the surplus reaches the minimum current (enable threshold 0 W), a timer of
  `enable_delay_s` = 60 s runs; it starts at the minimum current when the timer has run out.
- Stop (disable): while charging, when the surplus falls below the minimum current it holds the
  minimum current and runs a timer of `disable_delay_s` = 180 s (disable threshold 0 W: any import
  counts); a reading above the minimum resets the timer.
- Guard: the charger is switched on or off at most once per `guard_s` = 300 s (contactor guard).
- A car plugged in while the surplus is already there starts at once: plugging in lets the enable
  timer and the guard count as run out, so the first cycle that sees enough surplus starts. The
  harness runs a cycle in the very second of plug-in or unplug (generous to evcc-like, which would
  otherwise see the car up to 30 s later).

Pure: measurements and a clock in, a current out. The simulation feeds it the same pushes as the
appliance's own policy (appliance/sim/compare.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EvccSettings:
    min_current_a: int = 6
    max_current_a: int = 32
    phases: int = 3
    voltage_v: float = 230.0
    interval_s: float = 30.0
    enable_delay_s: float = 60.0
    disable_delay_s: float = 180.0
    guard_s: float = 300.0

    @property
    def watts_per_amp(self) -> float:
        return self.phases * self.voltage_v


class EvccLike:
    """Keeps the offered current, the enable state and the two timers between cycles."""

    def __init__(self, cfg: EvccSettings | None = None) -> None:
        self.cfg = cfg or EvccSettings()
        self.offered_a = 0
        self.enabled = False
        self.pv_timer_s: float | None = None   # when the enable or disable timer started
        self.guard_since_s = -math.inf         # last switch on or off
        self.connected = False
        self.next_cycle_s = -math.inf

    def due(self, now_s: float) -> bool:
        """True when a cycle is due at `now_s` (one every interval_s)."""
        return now_s >= self.next_cycle_s

    def decide(self, now_s: float, grid_w: float | None, car_connected: bool) -> int:
        """One cycle: the current the charger gets until the next one (0 = switched off)."""
        cfg = self.cfg
        self.next_cycle_s = now_s + cfg.interval_s
        if not car_connected:
            self.connected = False
            self.pv_timer_s = None
            return self._apply(now_s, 0, force=True)
        if not self.connected:
            # Plugged in: the timers count as run out, so an existing surplus starts at once.
            self.connected = True
            self.pv_timer_s = -math.inf
            self.guard_since_s = -math.inf
        if grid_w is None:
            return self._apply(now_s, 0)
        effective_a = self.offered_a if self.enabled else 0
        target_a = max(0.0, effective_a - grid_w / cfg.watts_per_amp)
        if self.enabled and target_a < cfg.min_current_a:
            if self.pv_timer_s is None:
                self.pv_timer_s = now_s
            if now_s - self.pv_timer_s >= cfg.disable_delay_s:
                return self._apply(now_s, 0)
            return self._apply(now_s, cfg.min_current_a)
        if not self.enabled:
            if target_a >= cfg.min_current_a:
                if self.pv_timer_s is None:
                    self.pv_timer_s = now_s
                if now_s - self.pv_timer_s >= cfg.enable_delay_s:
                    return self._apply(now_s, cfg.min_current_a)
            else:
                self.pv_timer_s = None
            return self._apply(now_s, 0)
        self.pv_timer_s = None
        return self._apply(now_s, min(math.trunc(target_a), cfg.max_current_a))

    def _apply(self, now_s: float, current_a: int, force: bool = False) -> int:
        """Offers the current; switching on or off waits for the guard unless forced (unplug)."""
        cfg = self.cfg
        if current_a >= cfg.min_current_a:
            self.offered_a = current_a
        enable = current_a >= cfg.min_current_a
        if enable != self.enabled:
            if not force and now_s - self.guard_since_s < cfg.guard_s:
                return self.offered_a if self.enabled else 0
            self.enabled = enable
            self.guard_since_s = now_s
            self.pv_timer_s = None
        return self.offered_a if self.enabled else 0
