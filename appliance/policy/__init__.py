"""Pure decisions: the safety rules' budget, the modes and the ramp. No I/O; the clock is passed in."""
