"""How much the EMS link asks of the box: transactions a second and the share of a 9600-baud line.

Counted at the simulated box over ten simulated minutes on a stepped clock (issue 15's targets:
at most 1.5 transactions a second in steady state, at most 10 % of a 9600 8E1 line with 20 ms
replies). Run with -s to see the figures.
"""

from __future__ import annotations

import pytest

from appliance.chargers.vestel_ems import VestelClient, WallboxLink
from appliance.sim.wallbox import SimulatedWallbox
from ems_stepping import SteppedClock, run_link

BITS_PER_CHAR = 11  # 8E1: start, 8 data, parity, stop
BAUD = 9600
REPLY_S = 0.020
GAP_CHARS = 3.5     # the silence that ends an RTU frame


def line_time_s(request) -> float:
    """One RTU transaction on the line: request, the box's reply time, answer, two frame gaps."""
    answer_bytes = 8 if request.function_code == 6 else 5 + 2 * request.count
    chars = 8 + answer_bytes + 2 * GAP_CHARS
    return chars * BITS_PER_CHAR / BAUD + REPLY_S


@pytest.fixture
def rig():
    clock = SteppedClock()
    box = SimulatedWallbox(clock=clock)
    port = box.serve_tcp()
    link = WallboxLink(VestelClient.tcp("127.0.0.1", port), failsafe_current_a=8, failsafe_timeout_s=20, clock=clock)
    yield box, clock, link
    link.stop()
    box.stop()


def measure(box, clock, link, seconds: float) -> tuple[float, float]:
    before = len(box.requests)
    run_link(link, clock, seconds)
    done = box.requests[before:]
    return len(done) / seconds, sum(line_time_s(r) for r in done) / seconds


@pytest.mark.parametrize("charging", [True, False], ids=["charging", "idle"])
def test_steady_state_traffic_is_within_the_targets(rig, charging):
    box, clock, link = rig
    if charging:
        box.plug_in(car_max_a=32)
    link.set_setpoint(16 if charging else 0)
    run_link(link, clock, 60)  # connect, identity, first full status
    per_s, line_share = measure(box, clock, link, 600)
    print(f"\nEMS {'charging' if charging else 'idle'}: {per_s:.2f} transactions/s, "
          f"{line_share:.1%} of a 9600 8E1 line with 20 ms replies")
    assert per_s <= 1.5
    assert line_share <= 0.10
    assert link.health().holding and link.status is not None and not box.in_failsafe
    assert link.status.charging == charging


def test_a_plug_in_is_seen_at_the_quick_pace(rig):
    box, clock, link = rig
    link.set_setpoint(0)
    run_link(link, clock, 60)
    box.plug_in(car_max_a=32)
    run_link(link, clock, 8, max_step_s=0.1)  # the idle pace: the car's state every 8 s
    assert link.status.car_connected and link.status.limit_a == 32  # the cable's limit read at once
    link.set_setpoint(16)
    changed_before = len(box.requests)
    run_link(link, clock, 30)
    state_reads = [r for r in box.requests[changed_before:] if r.function_code == 4 and r.address == 1000]
    assert len(state_reads) >= 6  # every 5 s after the change
