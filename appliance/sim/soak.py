"""`python -m appliance.sim.soak`: does the appliance grow while it runs?

--hours H (default 24): H simulated hours through the stepped core (ApplianceCore with its
  state store and session tracker in a temporary directory): a tick every simulated second, an
  inverter push every 10 s, a wallbox reading every 2 s, a car plugged in from 07:00 to 19:00 each
  day, a mode change and a pause every hour. Python memory (tracemalloc), threads and open file
  descriptors are measured after the first hour and at the end; the safety rules are checked at
  every tick.
--real-minutes M: the running service (Runtime, as `wallbox demo` wires it: a simulated wallbox
  over Modbus TCP, a simulated inverter pushing by FTP every second, the control socket asked for
  the status every second) for M real minutes; RSS, threads and descriptors at the start (after a
  warm-up) and at the end.

Prints the figures and exits 1 when something grew beyond the tolerance or a rule was broken.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..chargers.base import ChargerHealth, ChargerReading
from ..commands import validate
from ..core import ApplianceCore, Clocks
from ..policy.control import PolicySettings
from ..sessions import SessionTracker, read_sessions
from ..sources.fronius import Measurement
from ..state import StateStore

UP = ChargerHealth(connected=True, holding=True)
START = datetime(2026, 6, 21, 0, 0)
EPOCH0 = 1_790_000_000.0
V = 230.0
MEMORY_TOLERANCE_B = 256 * 1024   # what may come and go (caches, the open session) without a trend


@dataclass(frozen=True)
class Usage:
    python_bytes: int     # tracemalloc's current traced memory (0 where not traced)
    rss_bytes: int
    threads: int
    fds: int

    def line(self) -> str:
        return (f"python {self.python_bytes / 1024:8.0f} kB  RSS {self.rss_bytes / 1024:8.0f} kB  "
                f"threads {self.threads:3d}  fds {self.fds:3d}")


def usage() -> Usage:
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    return Usage(traced, rss_bytes(), threading.active_count(), len(os.listdir("/proc/self/fd")))


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pv_w_at(hour: float) -> float:
    """A clear summer day: 9 kW peak at 13:00, nothing before 05:30 or after 20:30."""
    x = (hour - 13.0) / 7.5
    return 9000.0 * math.cos(x * math.pi / 2) ** 2 if abs(x) < 1 else 0.0


class SoakRun:
    """The stepped core, a house and a car, one simulated second per step."""

    def __init__(self, directory: Path, policy: PolicySettings | None = None, start_hour: float = 0.0) -> None:
        self.policy = policy or PolicySettings()
        self.t = start_hour * 3600.0
        self.dir = directory
        self.core = ApplianceCore(self.policy, store=StateStore(directory, "fast"),
                                  sessions=SessionTracker(directory / "sessions.csv", self.local),
                                  logger=None)
        self.setpoint = 0
        self.violations: list[str] = []
        self.unplugs = 0
        self._pv_at: tuple[float, float] | None = None

    def local(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def step(self) -> None:
        t, hour = self.t, (self.t / 3600.0) % 24
        plugged = 7.0 <= hour < 19.0
        if int(t) % 10 == 0:
            pv = pv_w_at(hour)
            car_w = self.setpoint * 3 * V if plugged else 0.0
            self.core.measurement(Measurement(pv, 400.0 + car_w - pv, None, None, "powerflow", None,
                                              "powerflow.json", t))
            self._pv_at = (pv, t)
        if int(t) % 2 == 0:
            amps = float(self.setpoint) if plugged else 0.0
            self.core.charger(ChargerReading(t, plugged, amps > 0, amps * 3 * V, (amps, amps, amps), 32,
                                             meter_wh=int(t)), UP)
        if int(t) % 3600 == 1800:
            self._command({"command": "mode", "mode": ("fast", "pv", "minpv")[int(t // 3600) % 3]})
        if int(t) % 3600 == 2400:
            self._command({"command": "pause", "minutes": 5})
        was_plugged = self.core.sessions.current is not None
        self.setpoint = self.core.tick(Clocks(t, self.local(), EPOCH0 + t))
        if was_plugged and not plugged:
            self.unplugs += 1
        self._check()
        self.t += 1.0

    def _command(self, request: dict) -> None:
        valid, _error = validate(request)
        self.core.command(valid, Clocks(self.t, self.local(), EPOCH0 + self.t))

    def _check(self) -> None:
        pv = self._pv_at[0] if self._pv_at and self.t - self._pv_at[1] < self.policy.stale_after_s else 0.0
        sp = self.setpoint
        if sp and not self.policy.min_current_a <= sp <= self.policy.max_current_a:
            self.violations.append(f"{self.local()}: setpoint {sp} A outside 0 or min..max")
        if sp * 3 * V > self.policy.allowance_w + pv + 1e-6:
            self.violations.append(f"{self.local()}: {sp} A over allowance + PV {pv:.0f} W")


def soak_hours(hours: float, out=sys.stdout, start_hour: float = 0.0) -> int:
    tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="wallbox-soak-") as tmp:
        run = SoakRun(Path(tmp), start_hour=start_hour)
        first = None
        for step in range(int(hours * 3600)):
            run.step()
            if first is None and step >= min(3600.0, hours * 1800):
                first = usage()
        end = usage()
        sessions = len(read_sessions(Path(tmp) / "sessions.csv"))
    tracemalloc.stop()
    print(f"Soak: {hours:g} simulated hours, {int(hours * 360)} pushes, {run.unplugs} sessions "
          f"({sessions} recorded), {len(run.violations)} safety-rule violations.", file=out)
    print(f"  after the first hour: {first.line()}", file=out)
    print(f"  at the end:           {end.line()}", file=out)
    grown = growth(first, end)
    for problem in grown + run.violations[:5]:
        print(f"  {problem}", file=out)
    return 1 if grown or run.violations or sessions != run.unplugs else 0


def growth(first: Usage, end: Usage, memory: str = "python_bytes",
           tolerance_b: float = MEMORY_TOLERANCE_B) -> list[str]:
    """What grew from first to end: the memory figure `memory` beyond tolerance_b, threads, open
    descriptors."""
    problems = []
    grew_b = getattr(end, memory) - getattr(first, memory)
    if grew_b > tolerance_b:
        name = "Python memory" if memory == "python_bytes" else "RSS"
        problems.append(f"{name} grew by {grew_b / 1024:.0f} kB.")
    if end.threads > first.threads:
        problems.append(f"Threads grew from {first.threads} to {end.threads}.")
    if end.fds > first.fds:
        problems.append(f"Open descriptors grew from {first.fds} to {end.fds}.")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.sim.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=None, help="simulated hours through the core (24)")
    parser.add_argument("--start-hour", type=float, default=0.0, help="the simulated hour to start at (0)")
    parser.add_argument("--real-minutes", type=float, default=None, help="real minutes of the running service")
    args = parser.parse_args(argv)
    if args.real_minutes:
        from .soak_service import soak_service
        return soak_service(args.real_minutes)
    return soak_hours(args.hours if args.hours is not None else 24.0, start_hour=args.start_hour)


if __name__ == "__main__":
    sys.exit(main())
