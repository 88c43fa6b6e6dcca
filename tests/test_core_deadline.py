"""The core says when it next needs a tick (ApplianceCore.next_deadline_s), so the control thread
can sleep until then. Each kind of deadline is checked by stepping the core's clocks to it, and a
whole random day ticked only at events and deadlines gives the setpoints of a tick every second."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from test_core import EPOCH, NOON, UP, Rig

from appliance.chargers.base import ChargerHealth, ChargerReading
from appliance.config import ScheduleWindow
from appliance.core import ApplianceCore, Clocks
from appliance.core_deadline import MARGIN_S, STATE_RETRY_S, phases_due_s, schedule_change_in_s
from appliance.policy.control import PolicySettings
from appliance.policy.phases import PhaseSettings
from appliance.sources.fronius import Measurement
from appliance.state import StateStore


def due_in(rig: Rig) -> float:
    """Seconds from the rig's clock to the core's next deadline (without the rounding margin)."""
    return rig.core.next_deadline_s(rig.clocks()) - MARGIN_S - rig.t


def test_nothing_due_without_data_wallbox_pause_or_schedule():
    rig = Rig(PolicySettings(ramp_up_interval_s=0))
    rig.tick()
    assert rig.core.next_deadline_s(rig.clocks()) == math.inf


def test_a_push_is_due_to_turn_stale_and_that_tick_lowers_the_current():
    rig = Rig(PolicySettings(ramp_up_interval_s=0, stale_after_s=60))
    rig.tick()
    rig.t = 2.5
    rig.push(5600.0)
    assert rig.tick() == 24
    assert due_in(rig) == pytest.approx(60.0)
    rig.t = rig.core.next_deadline_s(rig.clocks())
    assert rig.tick() == 15                      # allowance only, at the deadline itself
    assert rig.core.next_deadline_s(rig.clocks()) == math.inf


def test_the_grid_reading_has_its_own_stale_deadline():
    rig = Rig(PolicySettings(ramp_up_interval_s=0, import_limit_w=5000))
    rig.push(5600.0, grid_w=-2000.0)
    rig.tick()
    rig.t = 30.0
    rig.push(5600.0)                              # PV only: the meter reading stays from 0 s
    rig.tick()
    assert due_in(rig) == pytest.approx(30.0)     # the grid reading turns stale first


def test_a_wallbox_reading_is_due_to_turn_stale_and_a_silent_box_to_count_as_offline():
    rig = Rig(PolicySettings(ramp_up_interval_s=0))
    rig.reading(power_w=0.0)
    rig.tick()
    assert due_in(rig) == pytest.approx(20.0)
    rig.t = rig.core.next_deadline_s(rig.clocks())
    rig.tick()
    assert rig.core.status(rig.clocks()).reading is None

    silent = Rig(PolicySettings(ramp_up_interval_s=0))
    silent.core.charger(None, ChargerHealth(connected=False, holding=False))   # no answer yet
    silent.tick()
    assert not silent.core.status(silent.clocks()).wallbox_offline
    assert due_in(silent) == pytest.approx(5.0)
    silent.t = silent.core.next_deadline_s(silent.clocks())
    silent.tick()
    assert silent.core.status(silent.clocks()).wallbox_offline


def test_a_timed_pause_is_due_to_end():
    rig = Rig()
    rig.tick()
    rig.command(command="pause", minutes=10)
    assert rig.tick(1) == 0
    assert due_in(rig) == pytest.approx(599.0)
    rig.t = rig.core.next_deadline_s(rig.clocks())
    assert rig.tick() == 15 and not rig.core.state.paused


def test_schedule_windows_are_due_at_their_start_and_end():
    window = ScheduleWindow(time(12, 30), time(13, 0), "off")
    rig = Rig(schedule=[window])
    assert rig.tick() == 15
    assert due_in(rig) == pytest.approx(1800.0)
    rig.t = rig.core.next_deadline_s(rig.clocks())
    assert rig.tick() == 0                        # the window's mode, from its first moment
    assert due_in(rig) == pytest.approx(1800.0)
    rig.t = rig.core.next_deadline_s(rig.clocks())
    assert rig.tick() == 15


def test_a_schedule_boundary_counts_real_seconds_across_the_summer_time_change():
    berlin = ZoneInfo("Europe/Berlin")
    night = datetime(2026, 3, 29, 1, 30, tzinfo=berlin)      # at 02:00 the clocks jump to 03:00
    window = ScheduleWindow(time(3, 30), time(5, 0), "fast")
    assert schedule_change_in_s([window], night) == pytest.approx(3600.0)   # not 2 h
    assert schedule_change_in_s([window], datetime(2026, 6, 1, 23, 0)) == pytest.approx(4.5 * 3600)


def test_a_held_back_raise_is_due_when_the_ramp_allows_it():
    rig = Rig(PolicySettings(ramp_up_interval_s=30))
    rig.push(0.0)
    assert rig.tick() == 15
    rig.t = 10.0
    rig.push(9000.0)
    assert rig.tick() == 15
    assert due_in(rig) == pytest.approx(30.0)     # raise_in_s; before the data's 60 s
    rig.t = 39.0
    assert rig.tick() == 15
    rig.t = 40.0
    rig.push(9000.0)
    assert rig.tick() == 28


def test_a_refused_state_write_is_retried_on_a_bounded_interval(tmp_path):
    blocker = tmp_path / "card"
    blocker.write_text("not a directory")
    rig = Rig(PolicySettings(ramp_up_interval_s=0), store=StateStore(blocker / "state", "fast"))
    rig.tick()
    rig.command(command="mode", mode="pv")
    rig.tick()
    assert due_in(rig) == pytest.approx(STATE_RETRY_S)
    blocker.unlink()
    rig.t = rig.core.next_deadline_s(rig.clocks())
    rig.tick()
    assert (blocker / "state" / "state.json").exists()
    assert rig.core.next_deadline_s(rig.clocks()) == math.inf


def phase_core():
    core = ApplianceCore(PolicySettings(ramp_up_interval_s=0), default_mode="pv",
                         phases=PhaseSettings(pause_s=120.0, decide_after_s=60.0), logger=None)
    core.phase_switcher(True)
    return core


def test_a_phase_switch_is_due_after_decide_after_s_and_the_pause_after_it():
    core = phase_core()

    def tick(t, car_a=0.0):
        core.charger(reading_at(t, car_a), UP)
        core.phase_switcher(True)
        return core.tick(Clocks(t, NOON, EPOCH + t))

    # 2.4 kW of surplus: one phase would carry it, three would not.
    core.measurement(Measurement(pv_w=3000.0, grid_w=-2400.0, load_w=None, battery_w=None,
                                 kind="powerflow", inverter_time=None, source="t", received_at=0.0))
    tick(0.0)
    assert phases_due_s(core, 0.0) == 1.0         # the decider has not seen this surplus yet
    tick(1.0)
    assert core.phase_decider.state.wanted_phases == 1
    assert phases_due_s(core, 1.0) == 61.0        # decide_after_s after the surplus asked for 1p
    core.measurement(Measurement(pv_w=3000.0, grid_w=-2400.0, load_w=None, battery_w=None,
                                 kind="powerflow", inverter_time=None, source="t", received_at=50.0))
    tick(50.0)
    t = 61.0
    tick(t)                                        # decided: the current is held at 0 first
    assert core.phase_decider.state.switching_to == 1
    assert phases_due_s(core, t) == t + 1.0        # polled each second while it waits for 0 A
    while core.phase_decider.state.switching_to is not None:
        t = phases_due_s(core, t)
        tick(t)
    settle_until_s = core.phase_decider.state.settle_until_s
    assert core.phases_wanted == 1 and settle_until_s == t + 120.0
    assert phases_due_s(core, t) == settle_until_s or phases_due_s(core, t) == t + 1.0


def reading_at(t, car_a):
    return ChargerReading(at_s=t, car_connected=True, charging=car_a > 0, power_w=car_a * 690.0,
                          currents_a=(car_a, car_a, car_a), limit_a=32, phases_in_use=3)


# --- a whole random stretch: ticks at events and deadlines only == a tick every second ------------

EVENT = st.one_of(
    st.tuples(st.just("push"), st.floats(0, 12000), st.one_of(st.none(), st.floats(-8000, 8000))),
    st.tuples(st.just("reading"), st.booleans(), st.floats(0, 11000)),
    st.tuples(st.just("mode"), st.sampled_from(["fast", "pv", "minpv", "off"]), st.just(None)),
    st.tuples(st.just("pause"), st.sampled_from([None, 1, 3]), st.just(None)),
    st.tuples(st.just("resume"), st.just(None), st.just(None)),
)


def fresh_core(ramp_up_interval_s: float = 0):
    window = ScheduleWindow(time(12, 5), time(12, 9), "off")
    return ApplianceCore(PolicySettings(ramp_up_interval_s=ramp_up_interval_s, stale_after_s=40,
                                        import_limit_w=9000),
                         default_mode="fast", schedule=[window], logger=None)


def apply(core: ApplianceCore, event, t: float) -> None:
    from appliance.commands import validate

    kind, a, b = event
    clocks = Clocks(t, NOON + timedelta(seconds=t), EPOCH + t)
    if kind == "push":
        core.measurement(Measurement(pv_w=a, grid_w=b, load_w=None, battery_w=None,
                                     kind="powerflow" if b is not None else "inverter",
                                     inverter_time=None, source="t", received_at=t))
    elif kind == "reading":
        amps = b / 690.0
        core.charger(ChargerReading(at_s=t, car_connected=a, charging=b > 0, power_w=b,
                                    currents_a=(amps, amps, amps), limit_a=32), UP)
    else:
        request = {"command": kind, **({"mode": a} if kind == "mode" else {}),
                   **({"minutes": a} if kind == "pause" else {})}
        core.command(validate(request)[0], clocks)


@hsettings(max_examples=40, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 700), EVENT), max_size=25),
       ramp_up_interval_s=st.sampled_from([0, 30]))
def test_ticking_at_events_and_deadlines_gives_the_setpoints_of_a_tick_every_second(
        events, ramp_up_interval_s):
    """The setpoint at every second is the same whether the core is ticked every second or only
    when something arrives and when its deadline says: nothing that time alone changes (stale
    data, a pause's end, a schedule window, a raise the ramp held back) is missed or late, and
    fast mode's ramp window does not depend on how often it is asked."""
    at = {}
    for second, event in events:
        at.setdefault(second, []).append(event)
    every, sparse = fresh_core(ramp_up_interval_s), fresh_core(ramp_up_interval_s)
    setpoint, due = 0, -math.inf

    def clocks(t):
        return Clocks(t, NOON + timedelta(seconds=t), EPOCH + t)

    def sparse_tick(t):
        nonlocal setpoint, due
        setpoint = sparse.tick(clocks(t))
        due = sparse.next_deadline_s(clocks(t))
        assert due > t

    for second in range(800):
        t = float(second)
        while second and due < t:              # deadlines between the last second and this one
            sparse_tick(due)
        for event in at.get(second, ()):
            apply(every, event, t)
            apply(sparse, event, t)
        expected = every.tick(clocks(t))
        if second in at or second == 0:
            sparse_tick(t)
        elif due <= t + 10 * MARGIN_S:         # due at this second (each deadline met 1 ms late)
            sparse_tick(due)
        assert setpoint == expected, (second, sparse.decision, every.decision)
