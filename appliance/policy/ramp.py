"""Fast mode's ramp window: the levels the measurements allowed over the last ramp interval.

A raise in fast mode goes no higher than the lowest level allowed over the last
`ramp_up_interval_s`, so a gap of sun between two clouds does not raise the current for a moment.
The policy is asked at ticks, not continuously: a level holds from the tick that saw it until the
next tick (the core is ticked at every change of its inputs and at every deadline, so nothing
changes in between). Counting each level that way makes the window the same whether the core is
ticked every second or only when something is due.
"""

from __future__ import annotations

import math
from collections import deque


class AllowedLevels:
    """The allowed levels over the last interval as a sliding minimum: (at_s, amps, until_s)
    entries, each entry's amps below every later entry's, so the first is the lowest; until_s is
    the next tick's time (inf for the newest)."""

    def __init__(self):
        self._levels: deque[tuple[float, int, float]] = deque()

    def lowest(self, now_s: float, allowed_a: int, interval_s: float) -> int:
        """Records the level this tick allowed; returns the lowest level in force at any moment of
        the last interval_s (the level in force at the window's start included)."""
        levels = self._levels
        if levels and levels[-1][0] > now_s:   # a clock that went back: start afresh
            levels.clear()
        if levels:
            levels[-1] = (*levels[-1][:2], now_s)   # the previous level held until this tick
        while levels and levels[-1][1] >= allowed_a:
            levels.pop()
        levels.append((now_s, allowed_a, math.inf))
        start_s = now_s - interval_s
        while levels[0][2] <= start_s:   # held no longer than until the window's start
            levels.popleft()
        return levels[0][1]

    def forget(self) -> None:
        """Another mode decides now: the levels it allowed are not known, so fast mode's next tick
        starts a new window (its first level counts from then)."""
        self._levels.clear()

    def allowed_since_s(self, now_s: float, target_a: int) -> float:
        """Since when target_a has been allowed without a break: the tick after the last one that
        allowed less (now_s: this one allows less; -inf: none in the window did)."""
        for _at_s, amps, until_s in reversed(self._levels):
            if amps < target_a:
                return min(until_s, now_s)
        return -math.inf
