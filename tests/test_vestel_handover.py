"""The hand-over of a new setpoint to the link's thread, and identity reads that wait for rest."""

from __future__ import annotations

import threading
import time

from appliance.chargers.vestel_ems import VestelClient, WallboxLink
from appliance.chargers.vestel_ems.handover import Handover
from appliance.sim.wallbox import SimulatedWallbox
from ems_stepping import SteppedClock, run_link


def test_an_idle_thread_takes_the_work_up_before_the_waker_goes_on():
    handover = Handover(bound_s=30.0)   # a bound no test machine reaches: the wait ends on taken()
    took: list[float] = []

    def thread():
        handover.sleep(30.0)
        took.append(time.monotonic())
        handover.taken()

    worker = threading.Thread(target=thread)
    worker.start()
    while not handover._idle:
        time.sleep(0.001)
    handover.wake(hand_over=True)
    returned = time.monotonic()
    worker.join(5)
    assert took and took[0] <= returned   # the waker went on only after the thread had taken it up


def test_a_thread_in_the_middle_of_a_request_is_not_waited_for():
    handover = Handover(bound_s=30.0)
    started = time.monotonic()
    handover.wake(hand_over=True)   # nobody sleeps in the hand-over: the thread is busy elsewhere
    assert time.monotonic() - started < 5.0


def test_identity_waits_until_the_setpoint_has_rested_and_status_does_not():
    clock = SteppedClock()
    box = SimulatedWallbox(clock=clock)
    port = box.serve_tcp()
    link = WallboxLink(VestelClient.tcp("127.0.0.1", port, timeout_s=1.0), clock=clock,
                       failsafe_current_a=8, failsafe_timeout_s=20)
    try:
        for amps in (16, 15, 14, 13, 12, 11):   # a control loop at work: a new setpoint every 0.5 s
            link.set_setpoint(amps)
            run_link(link, clock, 0.5, max_step_s=0.1)
        assert link.identity is None and link.status is not None
        assert not [r for r in box.requests if r.address in (100, 130, 230)]
        run_link(link, clock, 3.0, max_step_s=0.1)
        assert link.identity is not None and link.identity.brand == "Vestel"
    finally:
        link.stop()
        box.stop()
