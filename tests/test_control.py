"""The policy's safety rules as property tests over random measurement sequences and clocks."""

import math

from hypothesis import given, strategies as st

from appliance.messages import reason
from appliance.policy.control import Controller, Inputs, PolicySettings, clamp_current

CFG = PolicySettings(allowance_w=11000, phases=3, voltage_v=230, min_current_a=6, max_current_a=32,
                     stale_after_s=60, ramp_up_interval_s=30, enable_delay_s=60, disable_delay_s=300)
WPA = 3 * 230

garbage = st.sampled_from([math.nan, math.inf, -math.inf, -500.0, -1e7])
pv_values = st.one_of(st.none(), st.floats(0, 30000), garbage)
step = st.fixed_dictionaries({
    "dt_s": st.floats(0, 120),
    "pv_w": pv_values,
    "new_reading": st.booleans(),           # did a push arrive at this step?
    "grid_w": st.one_of(st.none(), st.floats(-20000, 30000)),
    "car_w": st.floats(0, 25000),
    "charger_limit_a": st.one_of(st.none(), st.integers(0, 40)),
    "car_connected": st.one_of(st.none(), st.booleans()),
    "paused": st.booleans(),
})
modes = st.sampled_from(["fast", "pv", "minpv", "off"])
configs = st.builds(
    PolicySettings,
    allowance_w=st.integers(0, 30000), phases=st.sampled_from([1, 3]), voltage_v=st.sampled_from([220, 230, 240]),
    import_limit_w=st.sampled_from([0, 0, 8000, 20000]), min_current_a=st.integers(6, 10),
    max_current_a=st.integers(10, 40), stale_after_s=st.floats(5, 120),
    ramp_up_interval_s=st.floats(0, 120), enable_delay_s=st.floats(0, 300), disable_delay_s=st.floats(0, 600),
)


def run(cfg, steps, mode_seq, car_at_grid=None):
    """Drive a controller; yield (inputs, decision, previous setpoint) per step.

    car_at_grid, a list, gets the car's power when the grid reading in force was taken (the
    policy pairs a grid reading with the car's power at the first decision that sees it)."""
    ctl = Controller(cfg)
    now = 1000.0
    pv = pv_at = grid = None
    paired, paired_at = 0.0, None
    for i, s in enumerate(steps):
        now += s["dt_s"]
        if s["new_reading"]:
            # The policy pairs a grid reading it has not seen before (a new time) with the car's
            # power of that decision; one at the same time as the last is taken as the same.
            if s["grid_w"] is not None and now != paired_at:
                paired, paired_at = s["car_w"], now
            pv, pv_at, grid = s["pv_w"], now, s["grid_w"]
        if car_at_grid is not None:
            car_at_grid.append(paired)
        inp = Inputs(now_s=now, mode=mode_seq[i % len(mode_seq)], paused=s["paused"], pv_w=pv, pv_at_s=pv_at,
                     grid_w=grid, grid_at_s=pv_at, car_w=s["car_w"], car_connected=s["car_connected"],
                     charger_limit_a=s["charger_limit_a"])
        before = ctl.setpoint_a
        yield inp, ctl.decide(inp), before


def counted_pv(cfg, inp):
    fresh = inp.pv_at_s is not None and inp.now_s - inp.pv_at_s < cfg.stale_after_s
    ok = inp.pv_w is not None and math.isfinite(inp.pv_w) and inp.pv_w >= 0
    return inp.pv_w if fresh and ok else 0.0


@given(configs, st.lists(step, min_size=1, max_size=60), st.lists(modes, min_size=1, max_size=4))
def test_rule1_setpoint_is_zero_or_between_minimum_and_charger_limit(cfg, steps, mode_seq):
    for inp, d, _ in run(cfg, steps, mode_seq):
        limit = cfg.max_current_a
        if inp.charger_limit_a:
            limit = min(limit, inp.charger_limit_a)
        assert d.setpoint_a == 0 or cfg.min_current_a <= d.setpoint_a <= limit
        assert not 1 <= d.setpoint_a <= 5


@given(configs, st.lists(step, min_size=1, max_size=60), st.lists(modes, min_size=1, max_size=4))
def test_rule2_grid_allowance_plus_fresh_pv_only(cfg, steps, mode_seq):
    for inp, d, _ in run(cfg, steps, mode_seq):
        wpa = cfg.phases * cfg.voltage_v
        assert d.setpoint_a * wpa <= cfg.allowance_w + counted_pv(cfg, inp) + 1e-6


@given(configs, st.lists(step, min_size=1, max_size=60), st.lists(modes, min_size=1, max_size=4))
def test_rule3_import_limit_with_a_fresh_meter(cfg, steps, mode_seq):
    """The house without the car is the grid reading minus the car's power at that reading."""
    paired = []
    for inp, d, _ in run(cfg, steps, mode_seq, paired):
        fresh = inp.grid_at_s is not None and inp.now_s - inp.grid_at_s < cfg.stale_after_s
        if cfg.import_limit_w and fresh and inp.grid_w is not None:
            house_w = inp.grid_w - paired[-1]
            if d.setpoint_a:
                assert house_w + d.setpoint_a * cfg.phases * cfg.voltage_v <= cfg.import_limit_w + 1e-6


@given(configs, st.lists(step, min_size=1, max_size=80), st.lists(modes, min_size=1, max_size=4))
def test_rule4_lower_at_once_raise_at_most_once_per_interval(cfg, steps, mode_seq):
    last_raise = -math.inf
    for inp, d, before in run(cfg, steps, mode_seq):
        # Whatever the rules ask for below the current setpoint is in force in this very call.
        assert d.setpoint_a <= max(d.target_a, before)
        if d.target_a < before:
            assert d.setpoint_a == d.target_a
        if d.setpoint_a > before:
            assert inp.now_s - last_raise >= cfg.ramp_up_interval_s
            last_raise = inp.now_s


@given(configs, st.lists(step, min_size=1, max_size=60), garbage, st.lists(modes, min_size=1, max_size=4))
def test_rule7_garbage_pv_counts_as_no_pv(cfg, steps, bad, mode_seq):
    """An absurd value that reaches the policy gives the allowance-only budget, never more."""
    steps = [dict(s, pv_w=bad, new_reading=True) for s in steps]
    for inp, d, _ in run(cfg, steps, mode_seq):
        assert d.pv_counted_w == 0.0
        assert d.setpoint_a * cfg.phases * cfg.voltage_v <= cfg.allowance_w + 1e-6


def test_fast_mode_follows_pv_and_falls_back_to_allowance_when_stale():
    ctl = Controller(CFG)
    d = ctl.decide(Inputs(now_s=0, pv_w=5600, pv_at_s=0))
    assert d.setpoint_a == 24 and "PV 5.6 kW + allowance 11.0 kW" in reason(d, CFG)  # 16600 / 690 = 24.06
    d = ctl.decide(Inputs(now_s=70, pv_w=5600, pv_at_s=0))  # 70 s old, limit 60 s
    assert d.setpoint_a == 15 and not d.data_fresh and "Allowance only" in reason(d, CFG)


def test_raise_waits_for_the_ramp_interval_but_lowering_does_not():
    ctl = Controller(CFG)
    assert ctl.decide(Inputs(now_s=0, pv_w=0, pv_at_s=0)).setpoint_a == 15
    d = ctl.decide(Inputs(now_s=10, pv_w=9000, pv_at_s=10))
    # 28 A has been allowed since the reading at 10 s: the raise comes a whole interval later.
    assert d.setpoint_a == 15 and d.target_a == 28 and "in 30 s" in reason(d, CFG)
    assert ctl.decide(Inputs(now_s=30, pv_w=9000, pv_at_s=30)).setpoint_a == 15
    assert ctl.decide(Inputs(now_s=40, pv_w=9000, pv_at_s=40)).setpoint_a == 28
    assert ctl.decide(Inputs(now_s=41, pv_w=2000, pv_at_s=41)).setpoint_a == 18


def test_back_in_fast_mode_the_window_starts_afresh():
    """Levels fast mode saw before a spell of pv mode do not hold the current down afterwards."""
    ctl = Controller(CFG)
    assert ctl.decide(Inputs(now_s=0, pv_w=0, pv_at_s=0)).setpoint_a == 15
    for now in (10, 200, 400):
        ctl.decide(Inputs(now_s=now, mode="pv", pv_w=0, pv_at_s=now))
    assert ctl.decide(Inputs(now_s=500, pv_w=9000, pv_at_s=500)).setpoint_a == 28


def test_a_raise_comes_at_the_same_moment_however_often_the_policy_is_asked():
    """A level holds from the decision that saw it until the next one. Asking every second and
    asking only when a reading arrives or the decision's raise_in_s is due (as the service's
    control loop does) raise at the same second: a whole interval after the reading at 7 s."""
    raised_at = []
    for every_second in (True, False):
        ctl, due_s = Controller(CFG), 0.0
        for now in range(61):
            if every_second or now in (0, 7) or now >= due_s:
                sunny = now >= 7
                d = ctl.decide(Inputs(now_s=now, pv_w=9000 if sunny else 0, pv_at_s=7 if sunny else 0))
                if d.setpoint_a == 28:
                    raised_at.append(now)
                    break
                due_s = now + d.raise_in_s if d.raise_in_s is not None else math.inf
    assert raised_at == [37, 37]


def test_charger_limit_and_small_allowance():
    ctl = Controller(CFG)
    assert ctl.decide(Inputs(now_s=0, pv_w=20000, pv_at_s=0, charger_limit_a=20)).setpoint_a == 20
    small = Controller(PolicySettings(allowance_w=3000))
    assert small.decide(Inputs(now_s=0)).setpoint_a == 0  # 4.3 A is below the minimum: 0, not 4


def test_clamp_current():
    assert clamp_current(5.99, 6, 32) == 0
    assert clamp_current(6.0, 6, 32) == 6
    assert clamp_current(40, 6, 32) == 32
    assert clamp_current(math.nan, 6, 32) == 0


def test_single_amp_raises_wait_so_a_slow_pv_rise_moves_in_bigger_steps():
    ctl = Controller(CFG)  # small_raise_after_s defaults to one hour
    assert ctl.decide(Inputs(now_s=0, pv_w=0, pv_at_s=0)).setpoint_a == 15
    # +1 A worth of PV: held back (no write for every amp the curve crosses) ...
    d = ctl.decide(Inputs(now_s=100, pv_w=700, pv_at_s=100))
    assert d.setpoint_a == 15 and d.target_a == 16
    # ... until 2 A are allowed for a whole ramp interval, then both at once.
    ctl.decide(Inputs(now_s=200, pv_w=1400, pv_at_s=200))
    assert ctl.decide(Inputs(now_s=231, pv_w=1400, pv_at_s=231)).setpoint_a == 17
    # A lone amp goes through after small_raise_after_s.
    assert ctl.decide(Inputs(now_s=300, pv_w=2100, pv_at_s=300)).setpoint_a == 17
    assert ctl.decide(Inputs(now_s=231 + 3600, pv_w=2100, pv_at_s=231 + 3600)).setpoint_a == 18
