"""`wallbox bench`: the appliance's footprint and reaction times, measured against their targets.

A benchmark, not a test: it starts the project's simulators and the real service (`wallbox run` in
a child process), measures from outside (/proc, the simulated devices' request records,
time.perf_counter) and prints one table: figure, value, target, Pi Zero W estimate. It exits 1
when a target is missed.
"""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure CPU, wakeups, Modbus load, reaction time and memory "
                                     "against their targets (takes about two minutes)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the steady-state window (default 30)")
    p.add_argument("--pushes", type=int, default=60, help="pushes for each reaction-time figure (default 60)")
    p.set_defaults(func=run_bench)


def run_bench(args) -> int:
    from .report import table
    from .scenarios import PI_ZERO_FACTOR, reactions, steady_state

    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

    figures = steady_state(args.seconds, progress) + reactions(args.pushes, progress)
    print(table(figures, PI_ZERO_FACTOR))
    missed = [f for f in figures if not f.met]
    print(f"\n{len(figures) - len(missed)} of {len(figures)} targets met"
          + (": missed " + "; ".join(f.name for f in missed) if missed else "."))
    return 1 if missed else 0
