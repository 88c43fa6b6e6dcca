"""A full car (or one on its own timer) is not "waiting for sun": the screen says the car is idle."""

from __future__ import annotations

from test_core import Rig

from display.screens import screen_name


def test_an_offered_current_the_car_does_not_take_reads_as_car_idle():
    rig = Rig()                       # fast mode: 15 A offered on the allowance alone
    rig.push(8000.0)
    rig.reading(power_w=0.0)          # plugged in, drawing nothing
    assert rig.tick() > 0
    status = rig.core.status(rig.clocks())
    assert status.waiting_for == "car"
    snapshot = status.snapshot(version="test", ip_address=None)
    assert snapshot.waiting_for == "car" and screen_name(snapshot) == "waiting"


def test_a_car_that_draws_is_charging_not_idle():
    rig = Rig()
    rig.push(8000.0)
    rig.reading(power_w=11000.0)
    rig.tick()
    assert rig.core.status(rig.clocks()).waiting_for is None
