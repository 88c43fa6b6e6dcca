"""The simulated basic EVC04's grant law, rule by rule, and the plant for `wallbox simulate`."""

from __future__ import annotations

from appliance.chargers.vestel_meter import pro380
from appliance.sim.basic_wallbox import LOCKOUT_S, BasicBoxModel, BasicBoxPlant


def evaluate(box: BasicBoxModel, reported_a: float, now_s: float) -> None:
    box.meter_answer(now_s, (reported_a,) * 3)
    box.next_evaluation_s = now_s      # evaluate at this step
    box.step(now_s)


def charging_box(grant_a: int = 16, draw_a: float = 15.5) -> BasicBoxModel:
    box = BasicBoxModel(limit_a=16, seed=1)
    box.session, box.grant_a, box.draw_a = True, grant_a, draw_a
    box.offer_since_s, box.lag_s = -100.0, 10.0
    box.meter_answer(0.0, (16.0,) * 3)
    box.step(0.0)
    return box


def test_a_session_starts_with_the_apparent_headroom():
    box = BasicBoxModel(limit_a=16, seed=1)
    evaluate(box, 6.0, 1.0)
    assert box.session and box.grant_a == 10
    box = BasicBoxModel(limit_a=16, seed=1)
    evaluate(box, 11.0, 1.0)              # 5 A of headroom: below the pilot minimum, no session
    assert not box.session


def test_below_the_limit_the_grant_is_draw_plus_headroom():
    box = charging_box(grant_a=10, draw_a=9.7)
    evaluate(box, 13.0, 1.0)
    assert box.grant_a == 12


def test_dead_zone_holds_only_while_the_car_draws():
    box = charging_box(grant_a=12, draw_a=11.6)
    evaluate(box, 16.4, 1.0)
    assert box.session and box.grant_a == 12
    idle = charging_box(grant_a=12, draw_a=0.0)
    idle.lag_s = 1e9                      # car not drawing yet
    evaluate(idle, 16.0, 1.0)
    assert not idle.session and idle.events[-1].kind == "cut"


def test_shedding_is_proportional_and_a_big_excess_cuts():
    box = charging_box(grant_a=16)
    evaluate(box, 17.0, 1.0)
    assert box.grant_a == 15
    evaluate(box, 18.0, 2.0)
    assert box.grant_a == 13
    evaluate(box, 20.0, 3.0)              # the pause posture: +4 A
    assert not box.session and box.events[-1].why.startswith("reported 4.0 A over")


def test_a_2_a_shed_landing_at_6_a_drops_the_session_and_a_lockout_follows():
    box = charging_box(grant_a=8, draw_a=7.7)
    evaluate(box, 18.0, 1.0)
    assert not box.session
    evaluate(box, 0.0, 2.0)               # plenty of headroom, but locked out
    assert not box.session
    evaluate(box, 0.0, 2.0 + LOCKOUT_S)
    assert box.session


def test_the_car_waits_for_a_standing_offer_then_ramps():
    box = BasicBoxModel(limit_a=16, seed=2)
    evaluate(box, 0.0, 0.0)
    assert box.session and box.grant_a == 16
    draws = []
    for t in range(1, 60):
        box.meter_answer(float(t), (0.0,) * 3)
        box.next_evaluation_s = 1e9
        box.step(float(t))
        draws.append(box.draw_a)
    first = next(i for i, d in enumerate(draws) if d > 0) + 1
    assert 10 <= first <= 31 and max(draws) > 15 and draws[first] - draws[first - 1] <= 2.01


def test_a_silent_meter_faults_the_box_and_the_log_says_so():
    box = charging_box()
    for t in range(1, 6):
        box.meter_answer(float(t), None)
        box.step(float(t))
    assert box.fault and not box.session and box.cp_state() == "F1" and "ERROR: 22" in box.log_lines()
    box.meter_answer(7.0, (0.0,) * 3)
    box.step(7.0)
    assert not box.fault and "CLEAR: 22" in box.log_lines()


def test_log_lines_are_what_the_parser_knows():
    from appliance.chargers.vestel_meter.log_parser import parse_line

    box = charging_box(grant_a=12, draw_a=11.6)
    assert all(parse_line(line) is not None for line in box.log_lines())
    assert "lb current:12" in box.log_lines()


def test_the_answer_frame_is_the_published_one():
    assert pro380.currents_answer((16.0,) * 3).hex() == "01030c41800000418000004180000097ae"
    assert pro380.parse_currents_answer(bytes.fromhex("01030c41800000418000004180000097ae")) == (16.0,) * 3
    assert pro380.parse_currents_answer(bytes.fromhex("01030c41800000418000004180000097af")) is None


def test_the_plant_follows_a_setpoint_within_a_minute_and_stops_on_pause():
    plant = BasicBoxPlant(limit_a=16, seed=5)
    amps = [plant.step(float(t), 10, plugged=True) for t in range(120)]
    assert 9.0 <= amps[-1] <= 10.0
    amps = [plant.step(float(t), 0, plugged=True) for t in range(120, 140)]
    assert amps[-1] == 0.0
    assert [plant.step(float(t), 10, plugged=False) for t in range(140, 150)][-1] == 0.0
