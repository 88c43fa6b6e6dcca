"""Schedule windows (for cheap night tariffs, e.g. 00:30-04:30): which mode is in force at a local
wall-clock time, and when the next window starts. Pure: the clock is passed in."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Iterable, Protocol


class _Window(Protocol):
    start: time
    end: time
    mode: str

    def contains(self, t: time) -> bool: ...


def mode_in_force(base_mode: str, schedule: Iterable[_Window], local_now: datetime) -> tuple[str, _Window | None]:
    """The mode that applies at local wall-clock time `local_now`: the first schedule window that
    contains it wins, else the base mode."""
    t = local_now.time().replace(tzinfo=None)
    for window in schedule:
        if window.contains(t):
            return window.mode, window
    return base_mode, None


def next_window_start(schedule: Iterable[_Window], local_now: datetime) -> datetime | None:
    """The next local time a schedule window starts (for "starts 00:30" on the screen)."""
    best = None
    for window in schedule:
        candidate = local_now.replace(hour=window.start.hour, minute=window.start.minute, second=0,
                                      microsecond=0)
        if candidate <= local_now:
            candidate += timedelta(days=1)
        if best is None or candidate < best:
            best = candidate
    return best
