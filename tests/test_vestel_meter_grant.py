"""Grant tracking: the rules one by one, and closed-loop properties against the box model.

The closed loop here is pure (no ports): the box model of appliance.sim.basic_wallbox is stepped
once a poll and the report comes from grant tracking, as the driver computes it. The same loop
over real pseudo-terminals is in test_vestel_meter_charger.py.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.chargers.vestel_meter.grant import GrantInputs, evaluations_to_shed, reported_current_a
from appliance.sim.basic_wallbox import EVALUATION_S, POLL_PERIOD_S, BasicBoxModel


def report(wanted, grant, draw=10.0, limit=16):
    return reported_current_a(GrantInputs(limit_a=limit, wanted_a=wanted, grant_a=grant, car_draw_a=draw))


def test_evaluations_to_shed():
    assert [evaluations_to_shed(over, 12) for over in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert evaluations_to_shed(2, 6) == 2 and evaluations_to_shed(4, 6) == 3 and evaluations_to_shed(1, 7) == 1


def test_the_rules():
    assert report(12, 16) == 18            # 4 A over: shed at most 2 A an evaluation
    assert report(12, 13) == 17            # 1 A over: shed 1 A (a grant over the setpoint never holds)
    assert report(12, 12) == 16            # at the setpoint: hold
    assert report(12, 11) == 16            # 1 A under: hold (grants are whole amps, a car draws a bit less)
    assert report(12, 8) == 12             # below: the missing amps as headroom
    assert report(12, 8, draw=3.0) == 7.0  # car under 6 A: limit - wanted + draw holds the offer
    assert report(0, 16) == 20             # pause: limit + 4
    assert report(3, 16) == 20             # 1-5 A is never asked for: pause
    assert report(6, 8) == 17              # a 2 A shed would land at 6 A and drop the session: 1 A
    assert report(6, 7) == 17              # a 1 A shed down to 6 A is fine
    assert report(32, 10, limit=16) == 10  # a setpoint over the DIP limit counts as the limit


@settings(max_examples=300, deadline=None)
@given(limit=st.sampled_from([16, 20, 25, 32, 40, 63, 80]), wanted=st.integers(0, 90),
       grant=st.one_of(st.none(), st.integers(0, 80)), draw=st.floats(0, 80))
def test_report_is_never_a_cut_unless_pausing_and_never_sheds_into_the_floor(limit, wanted, grant, draw):
    r = report(wanted, grant, draw, limit)
    if min(wanted, limit) < 6:
        assert r == limit + 4
        return
    assert 0 <= r <= limit + 2                       # the box cuts somewhere at 2-4 A over
    shed = math.floor(r - limit) if r - limit > 0.5 else 0
    if shed >= 2:
        assert (grant or 0) - shed > 6                # a 2 A shed never lands at or below 6 A
    if grant is not None and grant > wanted and draw >= 6:
        assert r > limit + 0.5                        # an over-grant is always shed


def run_loop(setpoints, step_s, seed, limit=16):
    """(time, setpoint, grant, reported) at every poll, and the box's events. The driver knows the
    grant and the car's draw from the LOG burst before the poll, as over the wires."""
    box = BasicBoxModel(limit_a=limit, seed=seed)
    rows, t = [], 0.0
    seen_grant, seen_draw = None, 0.0      # what the LOG told, one poll late
    for setpoint in setpoints:
        ends = t + step_s
        while t < ends:
            r = reported_current_a(GrantInputs(limit, setpoint, seen_grant, seen_draw))
            box.meter_answer(t, (r, r, r))
            box.step(t)
            rows.append((t, setpoint, box.grant_a, r))
            seen_grant, seen_draw = (box.grant_a if box.session else None), box.draw_a
            t += POLL_PERIOD_S
    return rows, box.events


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_staircase_settles_within_30_s_without_a_cut_for_any_box(seed):
    staircase = [16, 12, 10, 8, 6, 8, 16]
    rows, events = run_loop(staircase, 45.0, seed)
    assert not [e for e in events if e.kind == "cut"]
    for step, setpoint in enumerate(staircase):
        start = step * 45.0
        late = [g for t, s, g, _ in rows if start + 30.0 <= t < start + 45.0]
        assert late and all(abs(g - setpoint) <= 1 for g in late), (setpoint, late)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), setpoints=st.lists(st.integers(6, 16), min_size=2, max_size=6))
def test_grant_over_the_setpoint_lasts_only_the_evaluations_it_takes_to_shed(seed, setpoints):
    """A basic box sheds at most 2 A an evaluation without a cut: a drop of up to 2 A is done in one
    evaluation period, a larger one in one period for every 2 A, and the last step into 6 A in 1 A
    steps (plus a poll and a LOG burst)."""
    step_s = 60.0
    rows, events = run_loop(setpoints, step_s, seed)
    assert not [e for e in events if e.kind == "cut"]
    feedback_s = 2 * POLL_PERIOD_S
    over_since = None
    for t, setpoint, grant, _ in rows:
        if grant > setpoint:
            if over_since is None:
                over_since, over_by = t, grant - setpoint
            evaluations = evaluations_to_shed(over_by, setpoint)
            assert t - over_since <= evaluations * EVALUATION_S[1] + feedback_s, (t, setpoint, grant)
        else:
            over_since = None
