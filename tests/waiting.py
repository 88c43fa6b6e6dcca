"""Waiting for something another thread or process does, with a limit (tests never hang)."""

import time


def wait_until(condition, timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    """True as soon as condition() is true; False if it is still false after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return bool(condition())
