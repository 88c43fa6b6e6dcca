"""How the control loop wakes the link's thread, and lets it write first.

The control loop hands a new setpoint over and goes on with its cycle: it draws the screen, which
is Python work that holds the interpreter lock. The link's thread, woken, then had to wait for
CPython's switch interval (5 ms) before it could send the write: the TCP p99 from upload to write
was several ms over its median for that reason alone. So when the thread is idle (not in the
middle of a request), `wake(hand_over=True)` waits until it has picked the work up and is about to
write, at most `bound_s`; the caller's wait releases the lock, so the thread gets it at once. A
thread busy with a request is not waited for: the control loop never waits for the box.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("appliance.vestel")


class Handover:
    def __init__(self, bound_s: float = 0.003) -> None:
        self.bound_s = bound_s
        self._wake = threading.Event()
        self._taken = threading.Event()
        self._idle = False   # the thread sleeps until woken (it is not in a request)

    def wake(self, hand_over: bool = False) -> None:
        """Wake the thread; with `hand_over`, wait (at most bound_s) until it took the work up."""
        self._taken.clear()
        self._wake.set()
        if hand_over and self._idle:
            self._taken.wait(self.bound_s)

    def taken(self) -> None:
        """The thread is about to do what it was woken for: the waker may go on."""
        self._taken.set()

    def sleep(self, delay_s: float) -> None:
        """The thread sleeps until woken or `delay_s` passed."""
        if delay_s > 0:
            self._idle = True
            try:
                self._wake.wait(delay_s)
            finally:
                self._idle = False
        self._wake.clear()


def tell(listener: Callable | None, *args) -> None:
    """Calls a listener from the link thread; a broken one is logged and must not stop the heartbeat."""
    try:
        if listener is not None:
            listener(*args)
    except Exception:
        log.exception("A wallbox listener failed")
