"""`wallbox simulate --all --compare`: the command line reaches the comparison, and the
comparison's exit code and sentences follow the targets. (The days themselves: one day per test in
test_pv_surplus.py and test_phases.py; the whole run is the command's own job.)"""

import io

from appliance.sim import compare
from appliance.sim.compare import PHASE_RULE, Figures, run_comparison
from appliance.sim.simulate_cli import main


def test_all_compare_runs_the_comparison_with_the_options(monkeypatch, capsys):
    seen = {}

    def fake(profiles, seeds, workers, phase_switching, out):
        seen.update(profiles=profiles, seeds=seeds, workers=workers, phases=phase_switching)
        return 1

    monkeypatch.setattr(compare, "run_comparison", fake)
    assert main(["--all", "--compare", "--seeds", "3", "--workers", "1", "--phase-switching"]) == 1
    assert seen == {"profiles": ["clear", "cloudy", "winter", "evening-peak"], "seeds": 3,
                    "workers": 1, "phases": True}
    assert main(["--all", "--compare"]) == 1
    assert seen["seeds"] == 10 and seen["workers"] == 2 and seen["phases"] is False


def _table(ours_winter_starts, switched_winter_kwh):
    evcc = Figures(pv_to_car_kwh=5.0, car_import_wh=100.0, starts=3, setpoint_changes=10)
    ours = Figures(pv_to_car_kwh=5.5, car_import_wh=90.0, starts=ours_winter_starts,
                   setpoint_changes=9)
    switched = Figures(pv_to_car_kwh=switched_winter_kwh, car_import_wh=95.0, starts=4,
                       setpoint_changes=20, phase_switches=3)
    return {"winter": {"naive": evcc, "evcc-like": evcc, "ours": ours, PHASE_RULE: switched}}


def test_exit_code_and_the_missed_targets_named(monkeypatch):
    monkeypatch.setattr(compare, "compare", lambda *a: _table(2, 9.0))
    out = io.StringIO()
    assert run_comparison(["winter"], 2, 1, phase_switching=True, out=out) == 0
    text = out.getvalue()
    assert "| winter | ours | 5.50 | 90 | 2.0 | 9.0 | 0.0 |" in text
    assert "all met" in text and "winter: PV into the car 5.50 -> 9.00 kWh, +3.50 kWh (+64 %)" in text

    # More starts than today's policy had (winter: 2.2), and switching that gained nothing.
    monkeypatch.setattr(compare, "compare", lambda *a: _table(3, 5.5))
    out = io.StringIO()
    assert run_comparison(["winter"], 2, 1, phase_switching=True, out=out) == 1
    text = out.getvalue()
    assert "MISSED: winter: 3.0 starts, evcc-like 3.0, today 2.2" in text
    assert "MISSED: winter: 1p/3p switching did not raise PV into the car" in text


def test_bad_seed_count_is_refused_with_the_fix(capsys):
    assert main(["--all", "--compare", "--seeds", "0"]) == 2
    assert "--seeds and --workers must be at least 1" in capsys.readouterr().err


def test_our_rule_ticked_like_the_control_loop_gives_the_figures_of_a_tick_every_second():
    from appliance.runtime import CHARGER_LOOK_S

    assert compare.CHARGER_LOOK_S == CHARGER_LOOK_S   # the simulation sleeps as long as the service
    policy = compare.PolicySettings.from_settings(compare.default_settings())
    # An hour of each (the car is plugged in from 08:00): clouds on three phases, and a winter
    # noon around the 1p/3p thresholds.
    for profile, seed in (("cloudy", 2), ("winter", 3)):
        day = compare.never_full(compare.build_day(profile, seed, 10 * 3600, 11 * 3600))
        for phases in (None, compare.PhaseSettings(voltage_v=policy.voltage_v)):
            every_second = compare.CoreRule(policy, phases)
            every_second.pace = compare.LoopPace(longest_s=1)
            assert compare.run_day(day, compare.CoreRule(policy, phases)) == \
                compare.run_day(day, every_second), (profile, seed, phases)
