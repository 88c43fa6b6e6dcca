"""1p/3p switching decisions: thresholds, pause-switch-wait-resume, the daily limit, no switcher."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from appliance.policy.control import PolicySettings
from appliance.policy.phases import (PhaseReason, PhaseSettings, PhaseDecider, wanted_phases)
from appliance.sim import compare
from appliance.sim.day import build_day

CFG = PhaseSettings(one_phase_below_w=3700.0, three_phase_above_w=4500.0, pause_s=120.0,
                    max_switches_per_day=4, decide_after_s=60.0)


def run(switcher, surpluses_w, *, phases=3, current_a=10, step_s=10.0, t0_s=0.0):
    """Feeds one surplus per step; the wallbox drops to 0 A whenever the current is held and
    switches when asked. Returns [(t, command, phases in use after)]."""
    out = []
    t = t0_s
    for surplus_w in surpluses_w:
        cmd = switcher.decide(t, surplus_w, phases, current_a)
        current_a = 0 if cmd.hold_current else 10
        if cmd.phases != phases:
            phases = cmd.phases
        out.append((t, cmd, phases))
        t += step_s
    return out


def test_thresholds_have_a_gap_between_them():
    assert wanted_phases(2000.0, 3, CFG) == 1
    assert wanted_phases(4000.0, 3, CFG) == 3    # between the thresholds: keep
    assert wanted_phases(4000.0, 1, CFG) == 1
    assert wanted_phases(5000.0, 1, CFG) == 3
    assert wanted_phases(1000.0, 3, CFG) == 3    # not even the one-phase minimum (1380 W)


def test_low_surplus_pauses_switches_waits_and_resumes():
    steps = run(PhaseDecider(CFG), [2500.0] * 40)
    reasons = [cmd.reason for _, cmd, _ in steps]
    assert reasons[:6] == [PhaseReason.CONSIDERING] * 6          # 60 s of low surplus
    assert reasons[6] is PhaseReason.PAUSING                     # current to 0 first
    switch_t = next(t for t, cmd, ph in steps if ph == 1)
    assert steps[7][1].reason is PhaseReason.SETTLING and switch_t == 70.0
    held = [t for t, cmd, _ in steps if cmd.hold_current]
    assert held[0] == 60.0 and held[-1] >= switch_t + CFG.pause_s - 10.0
    after = [cmd for t, cmd, _ in steps if t >= switch_t + CFG.pause_s]
    assert after and all(not c.hold_current and c.phases == 1 for c in after)


def test_waits_for_zero_amps_before_switching():
    switcher = PhaseDecider(CFG)
    for t in range(0, 70, 10):
        cmd = switcher.decide(float(t), 2000.0, 3, 10)
    assert cmd.reason is PhaseReason.PAUSING and cmd.hold_current
    cmd = switcher.decide(80.0, 2000.0, 3, 10)     # the box still draws: no switch yet
    assert cmd.phases == 3 and cmd.reason is PhaseReason.PAUSING
    cmd = switcher.decide(90.0, 2000.0, 3, 0)
    assert cmd.phases == 1 and cmd.reason is PhaseReason.SETTLING


def test_no_switcher_never_switches_or_holds():
    switcher = PhaseDecider(CFG, can_switch=False)
    for t, surplus_w in enumerate([500.0, 2000.0, 9000.0] * 50):
        cmd = switcher.decide(t * 10.0, surplus_w, 3, 6)
        assert cmd.phases == 3 and not cmd.hold_current and cmd.reason is PhaseReason.NO_SWITCHER


def test_daily_limit_then_a_new_day():
    switcher = PhaseDecider(CFG)
    swinging = ([2500.0] * 30 + [6000.0] * 30) * 4 + [2500.0] * 30
    steps = run(switcher, swinging)
    switch_times = [t for (t, _, ph), (_, _, prev) in zip(steps[1:], steps) if ph != prev]
    assert len(switch_times) == 4
    assert steps[-1][1].reason is PhaseReason.DAILY_LIMIT
    # 24 h after the first switch one more is allowed.
    assert steps[-1][2] == 3
    later = run(switcher, [2500.0] * 20, phases=3, t0_s=switch_times[0] + 86_400.0)
    assert any(ph == 1 for _, _, ph in later)


@hsettings(max_examples=80, deadline=None)
@given(
    surpluses=st.lists(st.one_of(st.none(), st.floats(-2000.0, 25000.0)), min_size=1,
                       max_size=120),
    step_s=st.sampled_from([1.0, 10.0, 30.0, 600.0]),
    box_lag=st.integers(0, 3),
    can_switch=st.booleans(),
)
def test_switching_rules_hold_for_any_surplus(surpluses, step_s, box_lag, can_switch):
    """Never a switch under load; the current is held for pause_s after every switch; at most
    max_switches_per_day in any 24 h; without a switcher the phases never change."""
    switcher = PhaseDecider(CFG, can_switch=can_switch)
    phases, current_a, lag = 3, 16, 0
    switches: list[float] = []
    t = 0.0
    for surplus_w in surpluses:
        cmd = switcher.decide(t, surplus_w, phases, current_a)
        if cmd.phases != phases:
            assert current_a == 0, "switch asked while the wallbox draws current"
            switches.append(t)
            phases = cmd.phases
        if any(0 <= t - s < CFG.pause_s for s in switches):
            assert cmd.hold_current
        # The box follows a hold after box_lag calls (it takes a moment to stop).
        if cmd.hold_current:
            lag += 1
            if lag > box_lag:
                current_a = 0
        else:
            lag, current_a = 0, 16
        t += step_s
    assert not switches or can_switch
    for s in switches:
        assert sum(1 for x in switches if s <= x < s + 86_400.0) <= CFG.max_switches_per_day


def test_switching_raises_winter_pv_and_no_switcher_changes_nothing():
    """On the winter day (seed 1) one phase lets the car take the sun that three phases leave;
    with a box that cannot switch, the decisions leave the figures as they are."""
    policy = PolicySettings()
    day = compare.never_full(build_day("winter", 1))
    fixed = compare.run_day(day, compare.make_rule("ours", policy))
    switching = compare.run_day(day, compare.make_rule(compare.PHASE_RULE, policy))
    assert switching.pv_to_car_kwh > 1.5 * fixed.pv_to_car_kwh
    assert 1 <= switching.phase_switches <= CFG.max_switches_per_day
    # The core with phase switching on, but a charger that cannot switch (the basic box).
    no_switcher = compare.CoreRule(policy, CFG)
    no_switcher.can_switch = False
    assert compare.run_day(day, no_switcher) == fixed


def test_settings_from_the_wallbox_table():
    from appliance.config import parse_settings

    raw = {"fronius": {"ftp_password": "x"},
           "wallbox": {"phase_switching": True, "phase_switch_pause_s": 300,
                       "max_phase_switches_per_day": 2, "one_phase_below_w": 3000,
                       "three_phase_above_w": 5000}}
    cfg = PhaseSettings.from_settings(parse_settings(raw))
    assert (cfg.pause_s, cfg.max_switches_per_day, cfg.one_phase_below_w,
            cfg.three_phase_above_w) == (300.0, 2, 3000.0, 5000.0)
