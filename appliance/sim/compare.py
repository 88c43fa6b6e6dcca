"""PV mode side by side: naive, evcc-like, today's policy and the PV-surplus control, same days.

`python -m appliance.sim.compare` runs every built-in day (appliance/sim/day.py) for seeds 1-10 in
pv mode with a car that never fills, and prints one table with the same figures for every rule,
averaged over the seeds:

- PV into the car (kWh): sum over seconds of min(car_w, max(0, pv_w - house_w)).
- the car's grid import (Wh): what the car drew beyond that, car_w - PV into the car.
- starts: the car's power going from 0 to more than 0.
- setpoint changes: seconds at which the current the wallbox offers differs from the second before.

The day runs second by second from 15 minutes before the car is plugged in until it leaves (the
car decides nothing outside). The inverter pushes every `step_s` = 10 s: a rule sees that
moment's PV and grid reading (grid = house + car - PV) and the car's power; the car follows a new
current within the same second. Every rule is asked every second and acts on its own cadence:
naive at each push, evcc-like every 30 s, today's policy every second (as the service does), the
PV-surplus control at each push. The PV-surplus control's proposal passes the same safety gate
the core keeps above it: the budget (allowance + fresh PV), whole amps 0 or min..max, lowering
at once, raising at most once per `ramp_up_interval_s`.

`--phase-switching` adds a column where the PV-surplus control may switch between one and three
phases (appliance/policy/phases.py); the other columns keep three phases fixed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time as time_mod
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from ..policy.control import Controller, Inputs, PolicySettings, clamp_current
from ..policy.phases import PhaseSettings, PhaseDecider
from ..policy.pv_surplus import PvSurplus, PvSurplusSettings, SurplusReading
from .day import PROFILES, Day, build_day
from .evcc_like import EvccLike, EvccSettings
from .simulate import default_settings

RULES = ("naive", "evcc-like", "today", "pv-surplus")
PHASE_RULE = "pv-surplus 1p/3p"
LEAD_IN_S = 900


@dataclass(frozen=True)
class Observation:
    """What a rule sees at one second: the latest push and the car's power now."""

    now_s: float
    pv_w: float | None
    grid_w: float | None
    pushed_at_s: float | None
    car_w: float
    car_connected: bool
    new_push: bool


@dataclass
class Figures:
    """One rule's figures for one day."""

    pv_to_car_kwh: float = 0.0
    car_import_wh: float = 0.0
    car_kwh: float = 0.0
    starts: int = 0
    setpoint_changes: int = 0
    phase_switches: int = 0


class GatedRule:
    """Base for rules whose current passes the core's safety gate (budget, clamp, rule 4)."""

    def __init__(self, policy: PolicySettings) -> None:
        self.policy = policy
        self.setpoint_a = 0
        self.last_raise_s = -math.inf
        self.phases = policy.phases

    def gate(self, obs: Observation, target_a: int) -> int:
        p = self.policy
        fresh = obs.pushed_at_s is not None and obs.now_s - obs.pushed_at_s < p.stale_after_s
        budget_w = p.allowance_w + (max(0.0, obs.pv_w or 0.0) if fresh else 0.0)
        safe_a = clamp_current(budget_w / (self.phases * p.voltage_v), p.min_current_a,
                               p.max_current_a)
        target_a = clamp_current(min(target_a, safe_a), p.min_current_a, p.max_current_a)
        if target_a < self.setpoint_a:
            self.setpoint_a = target_a
        elif target_a > self.setpoint_a and obs.now_s - self.last_raise_s >= p.ramp_up_interval_s:
            self.setpoint_a = target_a
            self.last_raise_s = obs.now_s
        return self.setpoint_a


class NaiveRule(GatedRule):
    """At each push: the surplus in whole amps, 0 below the minimum; no delays."""

    def step(self, obs: Observation) -> int:
        if obs.new_push:
            p = self.policy
            surplus_w = obs.car_w - obs.grid_w if obs.grid_w is not None else 0.0
            self.setpoint_a = clamp_current(surplus_w / p.watts_per_amp, p.min_current_a,
                                            p.max_current_a) if obs.car_connected else 0
        return self.setpoint_a


class EvccRule:
    def __init__(self, policy: PolicySettings) -> None:
        self.evcc = EvccLike(EvccSettings(min_current_a=policy.min_current_a,
                                          max_current_a=policy.max_current_a,
                                          phases=policy.phases, voltage_v=policy.voltage_v))
        self.phases = policy.phases
        self.setpoint_a = 0

    def step(self, obs: Observation) -> int:
        if self.evcc.due(obs.now_s) or (obs.car_connected != self.evcc.connected):
            self.setpoint_a = self.evcc.decide(obs.now_s, obs.grid_w, obs.car_connected)
        return self.setpoint_a


class TodayRule:
    """appliance.policy.control.Controller as it is, asked every second in pv mode."""

    def __init__(self, policy: PolicySettings) -> None:
        self.controller = Controller(policy)
        self.phases = policy.phases

    def step(self, obs: Observation) -> int:
        return self.controller.decide(Inputs(
            now_s=obs.now_s, mode="pv", pv_w=obs.pv_w, pv_at_s=obs.pushed_at_s, grid_w=obs.grid_w,
            grid_at_s=obs.pushed_at_s, car_w=obs.car_w, car_connected=obs.car_connected,
        )).setpoint_a


class PvSurplusRule(GatedRule):
    """The PV-surplus control behind the safety gate; with `switcher`, also 1p/3p switching."""

    def __init__(self, policy: PolicySettings, switcher: PhaseDecider | None = None) -> None:
        super().__init__(policy)
        self.pv = PvSurplus(PvSurplusSettings(min_current_a=policy.min_current_a,
                                              max_current_a=policy.max_current_a,
                                              voltage_v=policy.voltage_v))
        self.switcher = switcher
        self._surplus_w: float | None = None

    def step(self, obs: Observation) -> int:
        if obs.new_push and obs.grid_w is not None:
            self._surplus_w = obs.car_w - obs.grid_w
        reading = SurplusReading(now_s=obs.now_s, surplus_w=self._surplus_w,
                                 surplus_at_s=obs.pushed_at_s, car_connected=obs.car_connected,
                                 phases=self.phases)
        proposal = self.pv.propose(reading)
        target_a = proposal.target_a
        if self.switcher is not None:
            surplus_w = self._surplus_w if obs.car_connected else None
            command = self.switcher.decide(obs.now_s, surplus_w, self.phases, self.setpoint_a)
            if command.phases != self.phases:
                if self.setpoint_a != 0:
                    raise AssertionError(f"phase switch asked at {self.setpoint_a} A (t={obs.now_s})")
                self.phases = command.phases
            if command.hold_current:
                target_a = 0
        return self.gate(obs, target_a)


def make_rule(name: str, policy: PolicySettings):
    if name == "naive":
        return NaiveRule(policy)
    if name == "evcc-like":
        return EvccRule(policy)
    if name == "today":
        return TodayRule(policy)
    if name == "pv-surplus":
        return PvSurplusRule(policy)
    if name == PHASE_RULE:
        return PvSurplusRule(policy, PhaseDecider(PhaseSettings(voltage_v=policy.voltage_v)))
    raise ValueError(f"unknown rule {name!r}: use one of {', '.join(RULES)}")


def run_day(day: Day, rule, *, step_s: int = 10) -> Figures:
    """One rule over one day; see the module docstring for what is counted."""
    fig = Figures()
    car = day.car
    begin_s = max(day.start_s, int(car.plugged_from_s) - LEAD_IN_S)
    end_s = min(day.end_s, int(math.ceil(car.plugged_until_s)) + 1)
    voltage_v = 230.0
    pv_w = grid_w = pushed_at_s = None
    setpoint_a = prev_setpoint_a = 0
    prev_car_w = 0.0
    prev_phases = rule.phases
    pv_car_ws = import_ws = car_ws = 0.0
    for t in range(begin_s, end_s):
        pv = day.pv_w[t - day.start_s]
        house = day.house_w[t - day.start_s]
        plugged = car.plugged(t)
        car_now_w = min(setpoint_a, car.max_current_a) * rule.phases * voltage_v if plugged else 0.0
        push = (t - begin_s) % step_s == 0
        if push:
            pv_w, grid_w, pushed_at_s = pv, house + car_now_w - pv, float(t)
        setpoint_a = rule.step(Observation(float(t), pv_w, grid_w, pushed_at_s, car_now_w, plugged,
                                           push))
        car_w = min(setpoint_a, car.max_current_a) * rule.phases * voltage_v if plugged else 0.0
        if plugged and setpoint_a != prev_setpoint_a:
            fig.setpoint_changes += 1
        prev_setpoint_a = setpoint_a
        if rule.phases != prev_phases:
            fig.phase_switches += 1
            prev_phases = rule.phases
        if car_w > 0 and prev_car_w <= 0:
            fig.starts += 1
        prev_car_w = car_w
        surplus = pv - house
        pv_car = min(car_w, surplus) if surplus > 0 else 0.0
        pv_car_ws += pv_car
        import_ws += car_w - pv_car
        car_ws += car_w
    fig.pv_to_car_kwh = pv_car_ws / 3.6e6
    fig.car_import_wh = import_ws / 3600
    fig.car_kwh = car_ws / 3.6e6
    return fig


def never_full(day: Day) -> Day:
    """The same day with a car that never fills (the figures then show the control alone)."""
    day.car = dataclasses.replace(day.car, need_wh=math.inf)
    return day


def run_profile_seed(args: tuple[str, int, tuple[str, ...]]) -> dict[str, Figures]:
    profile, seed, rules = args
    day = never_full(build_day(profile, seed))
    # The example settings file's values: allowance 11 kW, three phases, 6-32 A.
    policy = PolicySettings.from_settings(default_settings())
    return {name: run_day(day, make_rule(name, policy)) for name in rules}


def mean_figures(figs: list[Figures]) -> Figures:
    n = len(figs)
    return Figures(*(sum(getattr(f, k.name) for f in figs) / n
                     for k in dataclasses.fields(Figures)))


def compare(profiles, seeds, rules, workers: int = 2) -> dict[str, dict[str, Figures]]:
    """{profile: {rule: mean figures over the seeds}}."""
    jobs = [(p, s, tuple(rules)) for p in profiles for s in seeds]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_profile_seed, jobs))
    table: dict[str, dict[str, Figures]] = {}
    for profile in profiles:
        per_rule = [r for (p, _, _), r in zip(jobs, results) if p == profile]
        table[profile] = {name: mean_figures([r[name] for r in per_rule]) for name in rules}
    return table


def wins(table: dict[str, dict[str, Figures]], ours: str = "pv-surplus") -> list[str]:
    """The issue's targets that the PV-surplus control misses (empty when all hold)."""
    misses = []
    for profile, rows in table.items():
        me, evcc, today = rows[ours], rows["evcc-like"], rows["today"]
        if me.pv_to_car_kwh < evcc.pv_to_car_kwh - 1e-9:
            misses.append(f"{profile}: PV into the car {me.pv_to_car_kwh:.2f} < evcc-like "
                          f"{evcc.pv_to_car_kwh:.2f} kWh")
        if me.car_import_wh > evcc.car_import_wh + 1e-9:
            misses.append(f"{profile}: car grid import {me.car_import_wh:.0f} > evcc-like "
                          f"{evcc.car_import_wh:.0f} Wh")
        if me.starts > min(evcc.starts, today.starts) + 1e-9:
            misses.append(f"{profile}: {me.starts:.1f} starts, evcc-like {evcc.starts:.1f}, "
                          f"today {today.starts:.1f}")
        if me.setpoint_changes > evcc.setpoint_changes + 1e-9:
            misses.append(f"{profile}: {me.setpoint_changes:.1f} setpoint changes, evcc-like "
                          f"{evcc.setpoint_changes:.1f}")
    return misses


def print_table(table: dict[str, dict[str, Figures]], seeds, out=sys.stdout) -> None:
    print(f"pv mode, a car that never fills, mean over seeds {seeds[0]}-{seeds[-1]}", file=out)
    print("| day | rule | PV into car kWh | car grid import Wh | starts | setpoint changes "
          "| phase switches |", file=out)
    print("|---|---|---:|---:|---:|---:|---:|", file=out)
    for profile, rows in table.items():
        for name, f in rows.items():
            print(f"| {profile} | {name} | {f.pv_to_car_kwh:.2f} | {f.car_import_wh:.0f} | "
                  f"{f.starts:.1f} | {f.setpoint_changes:.1f} | {f.phase_switches:.1f} |", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.sim.compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="*", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..N (default 10)")
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=[*RULES, PHASE_RULE])
    parser.add_argument("--phase-switching", action="store_true",
                        help=f"add the column {PHASE_RULE!r}")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    rules = list(args.rules) + ([PHASE_RULE] if args.phase_switching else [])
    seeds = list(range(1, args.seeds + 1))
    started = time_mod.perf_counter()
    table = compare(args.profiles, seeds, rules, args.workers)
    print_table(table, seeds)
    took_s = time_mod.perf_counter() - started
    if "pv-surplus" in rules and {"evcc-like", "today"} <= set(rules):
        misses = wins(table)
        print(f"\n{len(args.profiles) * len(seeds)} days in {took_s:.1f} s; targets against "
              f"evcc-like and today: {'all met' if not misses else 'MISSED: ' + '; '.join(misses)}")
        return 0 if not misses else 1
    print(f"\n{len(args.profiles) * len(seeds)} days in {took_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
