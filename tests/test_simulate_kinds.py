"""`wallbox simulate --kind meter`: a simulated day with a basic box keeps the allowance rule."""

from __future__ import annotations

from appliance.sim.day import build_day, hms
from appliance.sim.simulate import default_settings, simulate_day


def test_a_cloudy_fast_day_with_a_basic_box_keeps_the_allowance_and_charges():
    settings = default_settings()
    # 04:00 until 10 minutes after the car leaves at 18:00: the same car power and setpoints second
    # by second as the whole day (nothing happens before sunrise or after the car has gone).
    day = build_day("cloudy", 1, hms("04:00"), hms("18:10"))
    basic = simulate_day(day, settings, mode="fast", kind="meter", keep_pushes=False)
    ems = simulate_day(day, settings, mode="fast", kind="ems", keep_pushes=False)
    assert basic.over_allowance_outside_wh == 0.0
    assert basic.car_kwh > 30.0
    # The basic box never draws more than its DIP limit, however high the setpoint.
    wpa = settings.grid.phases * settings.grid.voltage_v
    assert max(basic.car_w) <= settings.wallbox.dip_limit_a * wpa + 1e-6
    assert max(ems.car_w) > max(basic.car_w)     # the EMS box (32 A) is not capped at the DIP limit
