"""`wallbox simulate` on the command line: one day's figures, the side-by-side comparison with the
naive rule, the README's table over every built-in day (--all), the pv-mode comparison with naive
and evcc-like over seeds (--all --compare, appliance/sim/compare.py), and the chart."""

from __future__ import annotations

import argparse
import sys
import time as time_mod

from ..config import ConfigError, Settings, load_settings
from ..policy.types import MODES
from .chart import draw_chart
from .day import PROFILES, Day, ProfileError, build_day
from .simulate import DayResult, default_settings, simulate_day


TARGET_SHARE = {"clear": 0.90, "cloudy": 0.75}
MAX_STARTS = 6


def _share(r: DayResult) -> str:
    s = r.takeable_share
    return "n/a (none)" if s is None else f"{s * 100:.1f} %"


def _rows(r: DayResult, cfg_limit: bool) -> list[tuple[str, str]]:
    rows = [
        ("energy to the car", f"{r.car_kwh:.2f} kWh"),
        ("PV energy into the car", f"{r.pv_to_car_kwh:.2f} kWh"),
        ("PV surplus left unused", f"{r.pv_unused_kwh:.2f} kWh"),
        ("takeable PV surplus (min..max A)", f"{r.takeable_kwh:.2f} kWh"),
        ("share of it into the car", _share(r)),
        ("over allowance, within 1 push after a PV drop",
         f"{r.over_allowance_in_drop_interval_wh:.1f} Wh / {r.over_allowance_in_drop_interval_s} s"),
        ("over allowance, outside that (target 0)",
         f"{r.over_allowance_outside_wh:.1f} Wh / {r.over_allowance_outside_s} s"),
    ]
    if cfg_limit:
        rows += [
            ("over import limit, within 1 push",
             f"{r.over_import_limit_in_drop_interval_wh:.1f} Wh / "
             f"{r.over_import_limit_in_drop_interval_s} s"),
            ("over import limit, outside (target 0)",
             f"{r.over_import_limit_outside_wh:.1f} Wh / {r.over_import_limit_outside_s} s"),
        ]
    rows += [
        (f"starts / stops (target <= {MAX_STARTS} starts)", f"{r.starts} / {r.stops}"),
        ("setpoint changes", f"{r.setpoint_changes}"),
        ("car's need left at the end", f"{r.need_left_kwh:.2f} kWh"),
        ("run time of the day", f"{r.run_time_s:.2f} s"),
    ]
    return rows


def _print_day(day: Day, results: list[DayResult], settings: Settings, out) -> None:
    r0 = results[0]
    meter = "with grid meter" if r0.meter else "no grid meter (surplus = PV - house base load)"
    print(f"Profile {day.name}: {day.description}", file=out)
    print(f"Mode {r0.mode}, pushes every {r0.step_s} s, {meter}, allowance "
          f"{settings.grid.allowance_w / 1000:g} kW", file=out)
    limit = settings.grid.import_limit_w > 0 and r0.meter
    table = [_rows(r, limit) for r in results]
    head = [r.rule for r in results]
    w0 = max(len(k) for k, _ in table[0])
    print(" " * (w0 + 2) + "".join(f"{h:>20}" for h in head), file=out)
    for i, (key, _) in enumerate(table[0]):
        print(f"{key:<{w0}}  " + "".join(f"{t[i][1]:>20}" for t in table), file=out)


def _markdown(settings: Settings, seed: int, step_s: int, out, kind: str = "ems") -> bool:
    """The README table: every built-in profile, fast and pv, ours vs naive. True if all targets held."""
    ok = True
    print("| profile | mode | rule | car kWh | PV into car kWh | PV unused kWh | share of takeable PV "
          "| over allowance after a PV drop (Wh / s) | over allowance otherwise (Wh) | starts "
          "| setpoint changes | run time s |", file=out)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    for name in PROFILES:
        day = build_day(name, seed)
        for mode in ("fast", "pv"):
            ours = simulate_day(day, settings, mode=mode, step_s=step_s, rule="ours", kind=kind)
            naive = simulate_day(day, settings, mode=mode, step_s=step_s, rule="naive")
            for r in (ours, naive):
                print(f"| {name} | {mode} | {r.rule} | {r.car_kwh:.1f} | {r.pv_to_car_kwh:.1f} | "
                      f"{r.pv_unused_kwh:.1f} | {_share(r) if mode == 'pv' else ''} | "
                      f"{r.over_allowance_in_drop_interval_wh:.1f} / "
                      f"{r.over_allowance_in_drop_interval_s} | {r.over_allowance_outside_wh:.1f} | "
                      f"{r.starts} | {r.setpoint_changes} | {r.run_time_s:.2f} |", file=out)
            if kind == "meter":  # a basic box is slower by design: only the allowance rule is a target
                ok &= ours.over_allowance_outside_wh == 0
            else:
                ok &= not target_misses(ours, naive)
    return ok


def target_misses(ours: DayResult, naive: DayResult) -> list[str]:
    """The targets this day misses (empty when all hold), as sentences."""
    misses = []
    if ours.over_allowance_outside_wh > 0:
        misses.append(f"{ours.over_allowance_outside_wh:.1f} Wh over the allowance outside the push "
                      "interval after a PV drop (target 0)")
    if ours.over_allowance_in_drop_interval_wh > naive.over_allowance_in_drop_interval_wh:
        misses.append("more grid import over the allowance than the naive rule")
    if ours.over_import_limit_outside_wh > 0:
        misses.append(f"{ours.over_import_limit_outside_wh:.1f} Wh over the import limit (target 0)")
    if ours.starts > MAX_STARTS:
        misses.append(f"{ours.starts} starts (target at most {MAX_STARTS})")
    # The naive rule knows no import limit; when it breaks it, its calm is no yardstick.
    if ours.setpoint_changes > naive.setpoint_changes and naive.over_import_limit_outside_wh == 0:
        misses.append(f"{ours.setpoint_changes} setpoint changes, naive {naive.setpoint_changes}")
    need = TARGET_SHARE.get(ours.profile)
    if ours.mode == "pv" and need is not None and (ours.takeable_share or 0.0) < need:
        misses.append(f"{_share(ours)} of the takeable PV surplus (target {need * 100:.0f} %)")
    return misses


def cmd_simulate(args) -> int:
    out = sys.stdout
    if args.config:
        try:
            settings = load_settings(args.config)
        except (OSError, ConfigError) as e:
            print(f"{args.config}: cannot be used: {e}", file=sys.stderr)
            return 2
    else:
        settings = default_settings()
    if args.import_limit_w is not None:
        from ..config import with_overrides

        settings = with_overrides(settings, grid={"import_limit_w": args.import_limit_w})
    if args.all and args.compare:
        from .compare import run_comparison

        if args.seeds < 1 or args.workers < 1:
            print("wallbox simulate: --seeds and --workers must be at least 1", file=sys.stderr)
            return 2
        return run_comparison(list(PROFILES), args.seeds, args.workers, args.phase_switching, out=out)
    if args.all:
        started = time_mod.perf_counter()
        ok = _markdown(settings, args.seed, args.step_s, out, kind=args.kind)
        print(f"\n{len(PROFILES) * 4} days in {time_mod.perf_counter() - started:.1f} s; "
              f"targets {'met' if ok else 'MISSED'}", file=out)
        return 0 if ok else 1
    try:
        day = build_day(args.profile, args.seed)
    except (ProfileError, ValueError) as e:
        print(f"wallbox simulate: {e}", file=sys.stderr)
        return 2
    mode = args.mode or settings.control.mode
    results = [simulate_day(day, settings, mode=mode, step_s=args.step_s, meter=not args.no_meter,
                            kind=args.kind)]
    if args.compare:
        results.append(simulate_day(day, settings, mode=mode, step_s=args.step_s,
                                    meter=not args.no_meter, rule="naive"))
    _print_day(day, results, settings, out)
    if args.compare:
        misses = target_misses(results[0], results[1])
        print("Targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)), file=out)
    if args.chart:
        path = draw_chart(day, results[0], args.chart, settings)
        print(f"Chart written to {path}", file=out)
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `wallbox simulate` to the command line's subparsers."""
    p = subparsers.add_parser(
        "simulate", help="run the charging policy over a simulated day and print the figures",
        description="Runs the real charging policy over a simulated day (PV, house, car) with "
                    "inverter pushes every --step-s seconds and prints energy, PV use, grid import "
                    "over the allowance, starts and setpoint changes.")
    p.add_argument("--profile", default="clear",
                   help=f"{' | '.join(PROFILES)} | FILE.csv with columns timestamp,pv_w,house_w "
                        "(default clear)")
    p.add_argument("--config", help="settings file (default: the example settings)")
    p.add_argument("--mode", choices=MODES, help="charging mode (default: the settings' mode)")
    p.add_argument("--seed", type=int, default=1, help="seed of the day's random models (default 1)")
    p.add_argument("--step-s", type=int, default=10, help="seconds between inverter pushes (default 10)")
    p.add_argument("--no-meter", action="store_true",
                   help="no grid meter: pv mode estimates the surplus as PV - house base load")
    p.add_argument("--import-limit-w", type=int, help="override grid.import_limit_w")
    p.add_argument("--kind", choices=("ems", "meter"), default="ems",
                   help='the wallbox: "ems" (setpoint at once) or "meter" (a basic box driven by meter '
                        "emulation: grant law, evaluations every 5-10 s, the car's lag)")
    p.add_argument("--compare", action="store_true",
                   help="also run the naive rule, side by side; with --all: pv mode against naive "
                        "and evcc-like over seeds 1..--seeds, exit 1 naming any missed target")
    p.add_argument("--seeds", type=int, default=10,
                   help="with --all --compare: seeds 1..N, averaged (default 10)")
    p.add_argument("--workers", type=int, default=2,
                   help="with --all --compare: processes to run the days on (default 2)")
    p.add_argument("--phase-switching", action="store_true",
                   help="with --all --compare: add our control with 1p/3p switching")
    p.add_argument("--chart", metavar="FILE.png", help="draw the day into a PNG file")
    p.add_argument("--all", action="store_true",
                   help="every built-in profile in fast and pv mode, ours vs naive, as a Markdown table")
    p.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallbox")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
