"""Defect 4: the house import limit pairs the grid reading with the car's power from the same moment.

A 5 kW house, import_limit_w = 12000, pushes every 10 s whose grid reading is the true grid power
(it includes what the car drew at that moment). Mixing that reading with the car's power of a
later second made the setpoint cycle 15 -> 10 -> 0 -> 10 -> 15 A and the import reach 15.35 kW.
"""

from datetime import date, datetime

from hypothesis import given, settings as hsettings, strategies as st

from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.config import with_overrides
from appliance.sim.day import CarModel, Day
from appliance.sim.simulate import default_settings, simulate_day

HOUSE_W = 5000.0
LIMIT_W = 12000.0


def constant_house_day(seconds: int = 1200) -> Day:
    return Day("house", date(2026, 6, 21), 0, seconds, [0.0] * seconds, [HOUSE_W] * seconds,
               CarModel(0, seconds, 1e9, 32))


def test_a_5_kw_house_under_a_12_kw_limit_holds_10_a_and_never_imports_more():
    settings = with_overrides(default_settings(), grid={"import_limit_w": LIMIT_W},
                              control={"ramp_up_interval_s": 0.0})
    r = simulate_day(constant_house_day(), settings, mode="fast", step_s=10)
    imports_w = [HOUSE_W + car_w for car_w in r.car_w]
    assert max(imports_w) <= LIMIT_W            # old code: 15350 W (15 A) in alternate cycles
    assert set(r.setpoint_a) == {10}            # (12000 - 5000) / 690 = 10.1 A, held, no cycling
    assert r.over_import_limit_outside_wh == 0


# --- the same rule over random houses, on the core itself --------------------------------------

def step_core(core, t, car_w, *, plugged=True):
    from appliance.core import Clocks

    amps = car_w / 690.0
    core.charger(ChargerReading(at_s=float(t), car_connected=plugged, charging=car_w > 0, power_w=car_w,
                                currents_a=(amps, amps, amps), limit_a=32),
                 ChargerHealth(connected=True, holding=True))
    return Clocks(float(t), datetime(2026, 6, 21, 12), 1.79e9 + t)


def push(core, t, pv_w, grid_w):
    from appliance.sources.fronius import Measurement

    core.measurement(Measurement(pv_w=pv_w, grid_w=grid_w, load_w=None, battery_w=None, kind="powerflow",
                                 inverter_time=None, source="test", received_at=float(t)))


house_changes = st.lists(st.tuples(st.integers(0, 500), st.floats(0, 15000), st.floats(0, 9000)),
                         min_size=1, max_size=8)


@hsettings(max_examples=40, deadline=None)
@given(changes=house_changes, push_every_s=st.sampled_from([1, 5, 10, 20]),
       ramp_s=st.sampled_from([0.0, 10.0, 30.0]), car_max_a=st.integers(6, 32),
       limit_w=st.sampled_from([6000.0, 9000.0, 12000.0, 16000.0]))
def test_import_never_exceeds_the_limit_beyond_one_push_interval(changes, push_every_s, ramp_s,
                                                                  car_max_a, limit_w):
    """A house model whose grid reading includes what the car really draws. Where house and PV
    have not changed since the last push, the import stays under the limit; right after a change
    the appliance cannot know it before the next push."""
    from appliance.core import ApplianceCore
    from appliance.policy.control import PolicySettings

    core = ApplianceCore(PolicySettings(import_limit_w=limit_w, ramp_up_interval_s=ramp_s), logger=None)
    house_w, pv_w = 3000.0, 0.0
    changed_at = {t: (h, p) for t, h, p in changes}
    last_change_s = 0
    setpoint_a = 0
    for t in range(600):
        if t in changed_at:
            house_w, pv_w = changed_at[t]
            last_change_s = t
        car_w = min(setpoint_a, car_max_a) * 690.0
        clocks = step_core(core, t, car_w)
        if t % push_every_s == 0:
            push(core, t, pv_w, house_w + car_w - pv_w)
            last_push_s = t
        setpoint_a = core.tick(clocks)
        car_w = min(setpoint_a, car_max_a) * 690.0   # the car follows within the second
        import_w = house_w + car_w - pv_w
        if last_push_s >= last_change_s:             # the last push saw this house and this PV
            # The wallbox's part of the import above the limit (a house alone over it is not the
            # appliance's to fix: the car then gets 0).
            assert min(car_w, import_w - limit_w) <= 1e-6, (t, setpoint_a, house_w, pv_w)
