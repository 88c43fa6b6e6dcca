"""Stepping the EMS link and the simulated wallbox on one clock that the test moves.

The link's turn (`WallboxLink.step`) runs in the test's thread; requests still go over a real
Modbus TCP socket to the simulated box, whose watchdog, meter and request records follow the same
clock. Time passes only when the link has nothing to do, so a minute takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable


class SteppedClock:
    def __init__(self, start_s: float = 1000.0):
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s


def run_link(link, clock: SteppedClock, seconds: float, *, each_turn: Callable[[], None] | None = None,
             max_step_s: float = 1.0) -> None:
    """Let `seconds` pass on `clock`, doing the link's work as it falls due (no thread, no sleep)."""
    end_s = clock.now_s + seconds
    for _ in range(20_000):
        delay_s = link.step()
        if each_turn is not None:
            each_turn()
        if clock.now_s >= end_s:
            return
        if delay_s > 0:
            # Small steps, so the box's own watchdog ticks in between as it would in real time.
            clock.now_s = min(end_s, clock.now_s + min(delay_s, max_step_s))
    raise AssertionError("the link kept finding work without time passing: a tight loop")
