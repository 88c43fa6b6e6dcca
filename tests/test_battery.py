"""The battery rules (appliance/policy/battery.py) over random battery flows in a small house.

Every figure goes through the real parser first (a push document made by the house model), and
every parsed reading satisfies the working identity P_Load = -(P_Grid + P_PV + P_Akku).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.policy.battery import (
    BatteryPriority, BatteryRules, estimated_surplus_w, pv_counted_w, surplus_adjustment_w, surplus_for_car_w)
from appliance.policy.control import Controller, Inputs, PolicySettings
from appliance.sim.inverter import pv_day_w
from appliance.sources.fronius import identity_gap_w, parse_document
from battery_house import House

houses = st.builds(
    House,
    production_w=st.floats(0, 15000),
    house_w=st.floats(100, 8000),
    car_w=st.floats(0, 22000),
    soc_pct=st.floats(0, 100),
    max_charge_w=st.floats(500, 10000),
    max_discharge_w=st.floats(500, 10000),
)
rules_st = st.builds(BatteryRules, priority_soc_pct=st.floats(0, 100),
                     car_may_discharge=st.booleans())


def parsed(house: House):
    return parse_document(house.document(), source="house", received_at=0.0)


@settings(max_examples=100)
@given(houses)
def test_every_reading_satisfies_the_power_balance(house):
    m = parsed(house)
    assert identity_gap_w(m) == pytest.approx(0.0, abs=1e-6)


@given(houses, rules_st)
def test_pv_counted_never_includes_battery_charging(house, rules):
    m = parsed(house)
    charging_w = m.battery_charging_w
    counted_w = pv_counted_w(m.pv_w, m.battery_w, m.soc_pct, rules)
    # The PV that reaches the AC side is what the allowance rule may count, never more.
    assert m.pv_w == pytest.approx(max(0.0, house.production_w - charging_w))
    assert counted_w <= house.production_w - charging_w + m.battery_discharging_w + 1e-6
    if not (rules.car_may_discharge and m.soc_pct >= rules.priority_soc_pct):
        assert counted_w == pytest.approx(m.pv_w)


@given(houses, rules_st)
def test_surplus_respects_the_priority_state_of_charge(house, rules):
    m = parsed(house)
    surplus_w = surplus_for_car_w(house.car_w, m.grid_w, m.battery_w, m.soc_pct, rules)
    left_after_house_w = house.production_w - house.house_w
    if m.soc_pct < rules.priority_soc_pct:
        # The battery keeps its charging power; its discharge never feeds the car.
        assert surplus_w == pytest.approx(left_after_house_w - m.battery_charging_w, abs=1e-6)
    elif rules.car_may_discharge:
        assert surplus_w == pytest.approx(
            left_after_house_w + m.battery_discharging_w, abs=1e-6)
    else:
        # The car may take what would charge the battery, never what the battery gives.
        assert surplus_w == pytest.approx(left_after_house_w, abs=1e-6)


@given(st.floats(-10000, 10000), rules_st)
def test_unknown_state_of_charge_keeps_the_battery_charging(battery_w, rules):
    adjustment_w = surplus_adjustment_w(battery_w, None, rules)
    assert adjustment_w <= 0.0
    assert pv_counted_w(1000.0, battery_w, None, rules) == 1000.0
    assert estimated_surplus_w(1000.0, battery_w, None, 300.0, rules) == 700.0


@given(st.floats(allow_nan=True), st.floats(allow_nan=True), rules_st)
def test_bad_numbers_never_raise_the_counted_pv(battery_w, soc_pct, rules):
    counted_w = pv_counted_w(2000.0, battery_w, soc_pct, rules)
    assert 0.0 <= counted_w <= 2000.0 + max(0.0, battery_w if battery_w == battery_w else 0.0)
    assert counted_w == counted_w  # never NaN


def test_priority_level_outside_0_to_100_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="priority_soc_pct.*0 to 100"):
        BatteryRules(priority_soc_pct=150)


def _run_pv_mode(soc_pct: float, rules: BatteryRules, production=lambda t_s: 8000.0,
                 seconds: float = 1800.0, start_s: float = 0.0):
    """pv mode with the car's surplus adjusted for the battery, a reading every 10 s. Returns per
    reading (battery charging, what the battery would charge without the car, car power)."""
    controller = Controller(PolicySettings(import_limit_w=0.0))
    priority = BatteryPriority(rules)
    car_w, rows = 0.0, []
    for step in range(int(seconds / 10)):
        now_s = start_s + step * 10.0
        house = House(production_w=production(now_s), house_w=500, car_w=car_w, soc_pct=soc_pct)
        m = parse_document(house.document(), source="house", received_at=now_s)
        adjustment_w = priority.surplus_adjustment_w(m.grid_w, m.battery_w, m.soc_pct)
        decision = controller.decide(Inputs(
            now_s=now_s, mode="pv", pv_w=pv_counted_w(m.pv_w, m.battery_w, m.soc_pct, rules),
            pv_at_s=now_s, grid_w=m.grid_w - adjustment_w, grid_at_s=now_s,
            car_w=car_w, car_connected=True))
        without_car = House(production_w=house.production_w, house_w=500, car_w=0, soc_pct=soc_pct)
        rows.append((m.battery_charging_w, -without_car.flows()[1], car_w))
        car_w = decision.setpoint_a * 690.0
    return rows


def test_below_priority_a_pv_day_sends_no_charging_power_to_the_car():
    rows = _run_pv_mode(soc_pct=30, rules=BatteryRules(priority_soc_pct=50))
    # 8 kW PV - 0.5 kW house leaves 7.5 kW: the battery keeps its full 3 kW, the car gets
    # 6 A (4.14 kW) of the 4.5 kW exported.
    assert min(charging for charging, _, _ in rows) == pytest.approx(3000.0)
    assert rows[-1][2] == 6 * 690.0


def test_above_priority_the_car_takes_the_charging_power():
    rows = _run_pv_mode(soc_pct=80, rules=BatteryRules(priority_soc_pct=50))
    assert rows[-1][2] == 10 * 690.0  # 7.5 kW of surplus: 10 A
    assert rows[-1][0] == pytest.approx(7500.0 - 6900.0)


def _cloudy_day(t_s: float) -> float:
    return pv_day_w(t_s / 86400.0, peak_w=11000.0, seed=3)


def test_below_priority_a_cloudy_day_leaves_the_battery_its_charge():
    rows = _run_pv_mode(soc_pct=30, rules=BatteryRules(), production=_cloudy_day,
                        seconds=14 * 3600.0, start_s=6 * 3600.0)
    wanted_wh = sum(want for _, want, _ in rows) * 10 / 3600
    taken_wh = sum(max(0.0, want - got) for got, want, _ in rows) * 10 / 3600
    car_wh = sum(car for _, _, car in rows) * 10 / 3600
    assert car_wh > 5000  # the car did charge from the surplus beyond the battery's 3 kW
    # The car takes battery charge for a reading after a cloud's shadow arrives (it lowers at the
    # next decision), and while pv mode holds the minimum current through a short shadow (the
    # PV-surplus control stops by energy: the hold's shortfall, here paid by the battery instead
    # of the grid, counts towards the stop): measured 851 Wh of the 33.4 kWh the battery wanted
    # that day (325 Wh before the PV-surplus control).
    assert taken_wh < 0.03 * wanted_wh, (taken_wh, wanted_wh)


def test_the_meter_alone_would_let_the_car_take_the_charge_on_a_cloudy_day():
    """Why BatteryPriority learns the limit: with only "car - grid" the same day goes wrong."""
    rules = BatteryRules()

    class MeterOnly(BatteryPriority):
        def shortfall_w(self, battery_w):
            return 0.0

    import test_battery as me
    original = me.BatteryPriority
    me.BatteryPriority = MeterOnly
    try:
        rows = _run_pv_mode(soc_pct=30, rules=rules, production=_cloudy_day,
                            seconds=14 * 3600.0, start_s=6 * 3600.0)
    finally:
        me.BatteryPriority = original
    taken_wh = sum(max(0.0, want - got) for got, want, _ in rows) * 10 / 3600
    assert taken_wh > 3000  # measured 6.3 kWh


def test_a_battery_tapering_near_full_lowers_the_learned_limit_at_once():
    priority = BatteryPriority(BatteryRules())
    priority.observe(grid_w=-500.0, battery_w=-3000.0)
    assert priority.limit_w == 3000.0
    priority.observe(grid_w=0.0, battery_w=-1000.0)  # the car took 2 kW of the battery's charge
    assert priority.shortfall_w(-1000.0) == 2000.0
    priority.observe(grid_w=-1500.0, battery_w=-1200.0)  # exporting: 1.2 kW is its limit now
    assert priority.limit_w == 1200.0 and priority.shortfall_w(-1200.0) == 0.0
