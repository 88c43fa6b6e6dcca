"""`wallbox bench`: the appliance's footprint and reaction times, measured against their targets.

A benchmark, not a test: it starts the project's simulators and the real service (`wallbox run` in
a child process, with the systemd unit's environment and compiled bytecode, as the appliance runs
it; see rig.compiled_bytecode), measures from outside (/proc, the simulated devices' request records,
time.perf_counter) and prints one table: figure, value, target, Pi Zero W estimate. It exits 1
when a target is missed, or could not be measured (a missing socat or mosquitto says so).

What it runs (about 100 s on a 2-core x86 machine):
- EMS over Modbus TCP, a push every 3 s: CPU, Modbus transactions and the 9600 8E1 line share
  they would take, start -> first setpoint, resident memory, card writes; then idle wakeups per
  thread (the child names its threads for /proc).
- upload -> setpoint write over TCP and over RTU (socat ptys and a proxy holding each answer
  25 ms plus its wire time).
- kind "meter": the simulated basic box is the meter bus master and times poll -> answer while
  pushes come every 0.5 s; then idle wakeups and memory.
- resident memory with the web page and MQTT on (a Mosquitto broker on loopback).
- bytes to the LCD per update over 20 minutes of a cloudy day, counted at the SPI seam.

Pi Zero W estimates. CPU time and CPU-bound latencies are multiplied by 25: the Pi Zero W's one
1 GHz ARM1176 core (in-order, single-issue, 32-bit, no NEON) runs CPython 20-30 times slower
than one core of the CI-class x86 machine on interpreter-bound work; 25 is the middle. Latency
estimates scale only the part that is Python, not the wire or the box's reply time. Counts
(wakeups, Modbus transactions, bytes) and memory are not scaled: memory on 32-bit ARM is if
anything smaller (4-byte pointers), so the x86 figure is an upper bound.
"""

from __future__ import annotations

import sys
import time


PARTS = ("steady", "reactions", "meter", "web", "lcd")


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure CPU, wakeups, Modbus load, reaction time and memory "
                                     "against their targets (takes about two minutes)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the steady-state window (default 30)")
    p.add_argument("--pushes", type=int, default=60, help="pushes for each reaction-time figure (default 60)")
    p.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                   help="run only this part (repeatable): " + ", ".join(PARTS))
    p.set_defaults(func=run_bench)


def run_bench(args) -> int:
    from .footprint import lcd_figure, memory_with_web_and_mqtt, meter_emulation
    from .report import table
    from .scenarios import PI_ZERO_FACTOR, reactions, steady_state

    started = time.monotonic()

    def progress(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

    parts = {"steady": lambda: steady_state(args.seconds, progress),
             "reactions": lambda: reactions(args.pushes, progress),
             "meter": lambda: meter_emulation(args.seconds, progress),
             "web": lambda: memory_with_web_and_mqtt(progress),
             "lcd": lambda: lcd_figure(progress)}
    wanted = args.only or PARTS
    figures = [f for name in PARTS if name in wanted for f in parts[name]()]
    print(table(figures, PI_ZERO_FACTOR))
    missed = [f for f in figures if not f.met]
    print(f"\n{len(figures) - len(missed)} of {len(figures)} targets met"
          + (": missed " + "; ".join(f.name for f in missed) if missed else "."))
    return 1 if missed else 0
