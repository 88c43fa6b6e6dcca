"""Safety rule 8 for the EMS driver as a property: whatever the box refuses or misreports, it never
keeps a current the appliance did not give it for longer than its failsafe timeout plus one check."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.chargers.vestel_ems import EmsCharger, VestelClient
from appliance.sim.wallbox import SimulatedWallbox
from ems_stepping import SteppedClock, run_link

FAILSAFE_A = 8
TIMEOUT_S = 20
# The box checks every timeout/2; the last heartbeat may land just after one check.
LONGEST_UNCONFIRMED_S = TIMEOUT_S + TIMEOUT_S / 2

actions = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from([0, 6, 10, 16, 27, 32])),
        st.tuples(st.just("refuse_setpoints"), st.booleans()),
        st.tuples(st.just("misreport_setpoint"), st.booleans()),
        st.tuples(st.just("implausible_power"), st.booleans()),
        st.tuples(st.just("wait"), st.integers(1, 40)),
    ),
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_the_box_never_keeps_an_unconfirmed_current_beyond_its_failsafe_timeout(steps):
    clock = SteppedClock()
    box = SimulatedWallbox(clock=clock)
    box.port = box.serve_tcp()
    charger = EmsCharger(VestelClient.tcp("127.0.0.1", box.port), failsafe_current_a=FAILSAFE_A,
                         failsafe_timeout_s=TIMEOUT_S, clock=clock)
    box.plug_in(car_max_a=32)
    wanted = 16
    charger.set_setpoint(wanted)
    unconfirmed_since: list[float | None] = [None]

    def check() -> None:
        granted = box.granted_a
        if granted in (wanted, FAILSAFE_A):
            unconfirmed_since[0] = None
        elif unconfirmed_since[0] is None:
            unconfirmed_since[0] = clock()
        since = unconfirmed_since[0]
        assert since is None or clock() - since <= LONGEST_UNCONFIRMED_S, (
            f"the box granted {granted} A for {clock() - since:.0f} s while the appliance wanted {wanted} A")
        health = charger.health()
        if health.holding:
            assert box.setpoint_a == wanted and not box.in_failsafe
        reading = charger.reading()
        assert reading is None or reading.power_w <= 3 * 230 * 32 * 1.1

    try:
        run_link(charger.link, clock, 10, each_turn=check)
        for action, value in steps:
            if action == "set":
                wanted = value
                charger.set_setpoint(value)
            elif action == "refuse_setpoints":
                box.refused_writes = {5004: 3} if value else {}
            elif action == "misreport_setpoint":
                box.forced_words.update({5004: 32}) if value else box.forced_words.pop(5004, None)
            elif action == "implausible_power":
                if value:
                    box.forced_words.update({1020: 0xFFFF, 1021: 0xFFFF})
                else:
                    box.forced_words.pop(1020, None), box.forced_words.pop(1021, None)
            else:
                run_link(charger.link, clock, value, each_turn=check)
        run_link(charger.link, clock, LONGEST_UNCONFIRMED_S + 1, each_turn=check)
    finally:
        charger.stop()
        box.stop()
