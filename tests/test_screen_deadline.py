"""The screen says when its picture next changes by the passing of time alone (the clock's minute,
the data age's and the pause countdown's steps), so the service can sleep until then: just before
that moment the picture is the same, just after it differs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from display.samples import samples
from display.screens import next_change_s, visible


def later(snapshot, dt_s: float):
    """The same snapshot dt_s later: nothing happened but time."""
    return snapshot.replace(
        now=snapshot.now + timedelta(seconds=dt_s),
        pv_age_s=None if snapshot.pv_age_s is None else snapshot.pv_age_s + dt_s,
        pause_remaining_s=(None if snapshot.pause_remaining_s is None
                           else max(0.0, snapshot.pause_remaining_s - dt_s)))


SHOTS = samples()


@hsettings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(SHOTS)), seconds=st.floats(0, 59.9), age_s=st.floats(0, 9000),
       remaining_s=st.one_of(st.none(), st.floats(0.5, 3000)))
def test_the_picture_holds_until_the_next_change_and_changes_then(name, seconds, age_s, remaining_s):
    base = SHOTS[name]
    snapshot = base.replace(now=base.now.replace(second=0) + timedelta(seconds=seconds),
                            pv_age_s=age_s if base.pv_age_s is not None else None,
                            pause_remaining_s=remaining_s if base.pause_remaining_s is not None else None)
    due_s = next_change_s(snapshot)
    assert 0.0 <= due_s <= 60.0
    if due_s > 0.02:
        assert visible(later(snapshot, due_s - 0.01)) == visible(snapshot)   # nothing is missed
    assert visible(later(snapshot, due_s + 0.01)) != visible(snapshot)       # and it is not early


def test_a_fresh_screen_changes_once_a_minute_and_a_stale_age_every_5_s():
    charging = SHOTS["charging_fast_sun"].replace(now=SHOTS["charging_fast_sun"].now.replace(second=20))
    assert next_change_s(charging) == pytest.approx(40.0)     # the age of fresh data is not shown
    stale = SHOTS["charging_inverter_stale"].replace(pv_age_s=97.0)
    assert next_change_s(stale) == pytest.approx(3.0)
    assert next_change_s(stale.replace(pv_age_s=3580.0)) == pytest.approx(20.0)   # "60 min" -> "1 h"
    paused = SHOTS["paused"].replace(pause_remaining_s=452.0)
    assert next_change_s(paused) == pytest.approx(2.0)
