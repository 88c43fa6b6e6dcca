"""`wallbox demo`: the whole appliance on this computer, no hardware and no settings.

A simulated Vestel wallbox (a pymodbus server with a car model; with --basic the basic box that
polls its meter over pseudo-terminals, driven by meter emulation) and a simulated Fronius inverter
(pushing by FTP every second, or with --source asked over the Solar API or SunSpec) follow a PV day
compressed into about a minute; the real runtime and core sit in between and decide. The car has a
60 kWh battery that arrives at 30 % and stops drawing when full. At the end the inverter data
stops, and the service must fall back to the allowance-only current. An independent monitor checks
the safety rules against what the wallbox grants, and the run ends with a summary.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..config import Settings, with_overrides
from ..runtime import Runtime
from .demo_parts import (BASIC_TIME_SCALE, BasicBoxView, CarBattery, DemoEmsWallbox, basic_charger, day_seconds,
                         make_source)
from .inverter import pv_day_w

log = logging.getLogger("appliance.demo")

DAY_START_H = 6.0     # the compressed day runs from 06:00 ...
DAY_END_H = 21.0      # ... to 21:00
PUSH_INTERVAL_S = 1.0
STALE_AFTER_S = 5.0   # short, so the demo shows the fallback within seconds
PV_PEAK_W = 9000.0


def house_w_at(hour: float) -> float:
    """A plain household: 350 W base, breakfast and dinner peaks."""
    load = 350.0
    if 7.0 <= hour < 7.5:
        load += 1800.0
    if 18.0 <= hour < 19.0:
        load += 2500.0
    return load


@dataclass
class Monitor:
    """Checks the safety rules from outside the service, against what the wallbox holds."""

    settings: Settings
    wallbox: DemoEmsWallbox | BasicBoxView
    energy_scale: float
    grace_s: float = 0.0      # how long a grant may stay over the limit (one evaluation of a basic box)
    pushes: list = field(default_factory=list)      # (monotonic time, pv_w)
    over_since: float | None = None
    violations: list = field(default_factory=list)
    energy_wh: float = 0.0
    pv_energy_wh: float = 0.0
    highest_a: int = 0
    samples: int = 0

    def pushed(self, pv_w: float) -> None:
        self.pushes.append((time.monotonic(), pv_w))

    def check(self, now: float, dt_s: float, pv_w: float, house_w: float) -> None:
        s = self.settings
        setpoint = self.wallbox.setpoint_a
        car_w = float(self.wallbox.power_w)
        self.samples += 1
        self.highest_a = max(self.highest_a, setpoint)
        self.energy_wh += car_w * dt_s * self.energy_scale / 3600
        self.pv_energy_wh += min(car_w, max(0.0, pv_w - house_w)) * dt_s * self.energy_scale / 3600
        # Rule 1: 0 or min..max, never 1-5 A.
        if setpoint != 0 and not s.wallbox.min_current_a <= setpoint <= s.wallbox.max_current_a:
            self.violations.append(f"rule 1: setpoint {setpoint} A")
        # Rule 2: allowance + PV from a fresh push (the service may still be processing the newest one).
        fresh = [pv for at, pv in self.pushes if now - at < s.fronius.stale_after_s]
        limit_w = s.grid.allowance_w + (max(fresh) if fresh else 0.0)
        if setpoint * s.watts_per_amp <= limit_w + 1e-6:
            self.over_since = None
        elif self.over_since is None:
            self.over_since = now
        if self.over_since is not None and now - self.over_since >= self.grace_s:
            self.violations.append(f"rule 2: {setpoint} A x {s.watts_per_amp:g} W/A > {limit_w:.0f} W")
        # Rule 5: the failsafe current the box would fall back to is safe with no PV.
        if self.wallbox.failsafe_current_a > s.allowance_only_current_a:
            self.violations.append(f"rule 5: failsafe {self.wallbox.failsafe_current_a} A")


def demo_settings(ftp_password: str, wallbox_port: int, out_dir: Path, source: dict | None = None,
                  basic: bool = False) -> Settings:
    base = Settings()
    wallbox = {"transport": "tcp", "host": "127.0.0.1", "port": wallbox_port, "failsafe_timeout_s": 20}
    if basic:
        from .demo_parts import BASIC_DIP_LIMIT_A

        wallbox = {"kind": "meter", "dip_limit_a": BASIC_DIP_LIMIT_A, "parity": "N"}
    return with_overrides(
        base,
        wallbox=wallbox,
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": ftp_password,
                 "stale_after_s": STALE_AFTER_S, **(source or {})},
        # A compressed day: one real second is about 15 minutes, so the ramp limit shrinks too.
        control={"ramp_up_interval_s": 2.0},
        display={"backend": "png", "png_path": str(out_dir / "screen.png")},
        button={"pin": 0}, web={"enabled": False},
        state={"dir": str(out_dir / "state"), "control_socket": str(out_dir / "state" / "control.sock")},
    )


class DemoDay:
    """The compressed day: real seconds since the start -> the simulated hour, clock and PV."""

    def __init__(self, minutes: float):
        self.day_s = max(10.0, minutes * 60.0)
        self.scale = (DAY_END_H - DAY_START_H) * 3600.0 / self.day_s
        self.t0 = time.monotonic()

    def hour(self) -> float:
        elapsed = time.monotonic() - self.t0
        return DAY_START_H + min(elapsed, self.day_s) / self.day_s * (DAY_END_H - DAY_START_H)

    def clock(self) -> datetime:
        base = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return base + timedelta(hours=self.hour())

    def epoch_s(self) -> float:
        """The day's clock as epoch seconds: a pause's end is set and shown in day time."""
        return self.clock().timestamp()

    def pv_w(self) -> float:
        if time.monotonic() - self.t0 > self.day_s:
            return 0.0
        return pv_day_w(self.hour() / 24.0, peak_w=PV_PEAK_W, clouds=True)

    def log_in_day_time(self) -> None:
        day = self

        class SimTime(logging.Formatter):
            def format(self, record):
                return f"[{day.clock():%H:%M}] {in_day_time(record.getMessage(), day.scale)}"

        for handler in logging.getLogger().handlers:
            handler.setFormatter(SimTime())
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


_DURATION = re.compile(r"\b(\d+(?:\.\d+)?) s\b")


def in_day_time(text: str, scale: float) -> str:
    """A log line's durations (the runtime's real seconds) in the compressed day's time, so that
    every line speaks of one clock: at 900x, "raising allowed in 2 s" is 30 minutes of the day."""
    def day(match: re.Match) -> str:
        minutes = float(match.group(1)) * scale / 60.0
        return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"

    return _DURATION.sub(day, text)


@dataclass
class DemoRun:
    """What one demo run holds: the day, the wallbox, the car, the inverter's source, the runtime."""

    day: DemoDay
    basic: bool
    source: object
    wallbox: DemoEmsWallbox | BasicBoxView
    car: CarBattery = field(default_factory=CarBattery)
    runtime: Runtime | None = None
    monitor: Monitor | None = None
    car_full_at: str | None = None

    def held_a(self) -> int:
        """The current the appliance holds: the EMS box's setpoint, or for the basic box (which
        withdraws its offer from a full car) the appliance's own decision."""
        if not self.basic:
            return self.wallbox.setpoint_a
        return int(self.runtime.status().get("setpoint_a") or 0)


def _watch(run: DemoRun) -> int:
    """Checks the rules five times a second, fills the car's battery, stops the inverter data at
    the end of the day. Returns the current held once the data has gone stale."""
    day, monitor = run.day, run.monitor
    last = time.monotonic()
    end_of_day = day.t0 + day.day_s
    stop_at = end_of_day + STALE_AFTER_S + 4.0
    data_flows = True
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        if data_flows:
            pv_w = day.pv_w()
            run.source.update(pv_w)
            monitor.pushed(pv_w)
        monitor.check(now, now - last, day.pv_w(), house_w_at(day.hour()))
        last = now
        if run.car_full_at is None and run.car.full(monitor.energy_wh):
            run.wallbox.car_full()
            # The car stopped within the last sample (minutes of the compressed day), not after it.
            monitor.pv_energy_wh = min(monitor.pv_energy_wh, run.car.needed_wh)
            monitor.energy_wh = run.car.needed_wh
            run.car_full_at = f"{day.clock():%H:%M}"
            logging.getLogger("appliance.demo").info(
                "The car is full (%.0f %% of %.0f kWh): it stops drawing, the cable stays in.",
                run.car.target_pct, run.car.capacity_wh / 1000)
        if data_flows and now >= end_of_day:
            run.source.stop_data()
            data_flows = False
            print(f"== The inverter data stops (as at a Wi-Fi outage); the service must fall back to "
                  f"the allowance-only current within {in_day_time(f'{STALE_AFTER_S:.0f} s', day.scale)}.")
        if now >= stop_at:
            return run.held_a()


def _summary(run: DemoRun, fallback_a: int | None, frames: int, out_dir: Path, gif: Path) -> int:
    monitor, runtime = run.monitor, run.runtime
    violations = monitor.violations + list(run.wallbox.violations)
    expected_fallback = runtime.settings.allowance_only_current_a
    share = monitor.pv_energy_wh / monitor.energy_wh if monitor.energy_wh else 0.0
    core = runtime.core
    soc = run.car.soc_pct(monitor.energy_wh)
    full = f", full at {run.car_full_at}" if run.car_full_at else ""
    print()
    print("== Summary")
    print(f"Wallbox:                 {'the basic box, driven by meter emulation' if run.basic else 'EMS box, Modbus TCP'}")
    print(f"Energy charged:          {monitor.energy_wh / 1000:6.1f} kWh (simulated day)")
    print(f"Car battery:             {run.car.arrival_pct:.0f} % -> {soc:.0f} % of "
          f"{run.car.capacity_wh / 1000:.0f} kWh{full}")
    print(f"Share from PV:           {share * 100:6.0f} %")
    print(f"Highest current:         {monitor.highest_a:6d} A")
    # A push can only be refused; a poll also goes unanswered (the demo stops the inverter).
    refused = "rejected" if run.source.name == "push" else "polls without a usable answer"
    print(f"Inverter data ({run.source.name}):  {core.accepted_pushes:6d} readings accepted, "
          f"{core.rejected_pushes} {refused}")
    if hasattr(run.source, "soc_pct"):
        print(f"Home battery at the end: {run.source.soc_pct:6.0f} %")
    print(f"After the data stopped:  {fallback_a} A (allowance only: {expected_fallback} A)")
    print(f"Safety-rule violations:  {len(violations):6d}")
    for v in violations[:10]:
        print(f"  {v}")
    print(f"Screen pictures:         {out_dir}/frames/ ({frames} frames), animation {gif}")
    ok = (not violations and fallback_a == expected_fallback and monitor.highest_a > expected_fallback
          and monitor.energy_wh <= run.car.needed_wh)
    if not ok:
        print("The demo did not behave as it should: see the lines above.")
    return 0 if ok else 1


def _wallbox(run_stack: contextlib.ExitStack, day: DemoDay, basic: bool):
    """(the wallbox as the monitor sees it, its port for the settings, the charger or None)."""
    if not basic:
        wallbox = DemoEmsWallbox(energy_time_scale=day.scale)
        port = wallbox.serve_tcp("127.0.0.1", 0)
        run_stack.callback(wallbox.stop)
        wallbox.plug_in(car_max_a=32)
        return wallbox, port, None
    from .basic_wallbox import ScaledClock, basic_box_on_ptys
    from .demo_parts import BASIC_DIP_LIMIT_A

    clock = ScaledClock(BASIC_TIME_SCALE)
    pty_dir = run_stack.enter_context(tempfile.TemporaryDirectory(prefix="wallbox-demo-"))
    box, meter_port, log_port = run_stack.enter_context(basic_box_on_ptys(
        pty_dir, time_scale=BASIC_TIME_SCALE, clock=clock, limit_a=BASIC_DIP_LIMIT_A, car_max_a=32.0))
    box.plug_in()
    return BasicBoxView(box), 0, basic_charger(meter_port, log_port)


def _scaled_pv_surplus(settings: Settings, scale: float):
    """The PV-surplus control's waits are times of the day too (for a switch to pv mode)."""
    from dataclasses import fields, replace

    from ..policy.pv_surplus import PvSurplusSettings

    base = PvSurplusSettings.from_settings(settings)
    return replace(base, **{f.name: getattr(base, f.name) / scale for f in fields(base) if f.name.endswith("_s")})


def _start(run: DemoRun, charger, settings: Settings, out_dir: Path, recorder) -> None:
    from display.backends import make_backend

    day = run.day
    run.runtime = Runtime(
        settings, charger=charger, display_backend=make_backend("png", png_path=settings.display.png_path),
        on_frame=lambda image: recorder.add(image, time.monotonic() - day.t0), wall_clock=day.clock,
        epoch_clock=day.epoch_s,
        # The day's clock runs faster than the monotonic one the control thread sleeps on, so the
        # deadlines of the day (the screen's minute, a pause's end) would come late: it wakes at
        # least every real second, as it always did in the demo.
        cycle_s=1.0,
        # The policy's memory of PV drops and its wait before a 1 A raise are times of the day:
        # scaled like the day itself.
        policy_overrides={"pv_drop_memory_s": 900.0 / day.scale, "small_raise_after_s": 3600.0 / day.scale,
                          "pv_surplus": _scaled_pv_surplus(settings, day.scale)})
    grace_s = 12.0 / BASIC_TIME_SCALE if run.basic else 0.0   # one evaluation of the basic box and a poll
    run.monitor = Monitor(settings, run.wallbox, day.scale, grace_s=grace_s)
    run.runtime.start()
    run.source.start(run.runtime, day.pv_w)


def run_demo(minutes: float = 1.0, out_dir: Path = Path("demo-output"), basic: bool = False,
             source: str = "push") -> int:
    import shutil

    from display.recorder import FrameRecorder

    if basic and shutil.which("socat") is None:
        print("wallbox demo --basic needs socat for its pseudo-terminal pairs (the RS-485 bus and the LOG "
              "line): install it with `sudo apt-get install socat` and try again.")
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    day = DemoDay(minutes)
    day.log_in_day_time()
    box_text = "the basic box (no network module) driven by meter emulation" if basic else "the EMS box"
    print(f"== Demo: a PV day from {DAY_START_H:02.0f}:00 to {DAY_END_H:02.0f}:00 in {day.day_s:.0f} s "
          f"(one real second is {day.scale / 60:.0f} minutes of the day; every time in the log is day time); "
          f"allowance 11.0 kW, 3 x 230 V; {box_text}; inverter data by {source}; a 60 kWh car arrives at "
          f"30 %; pictures in {out_dir}/")
    recorder = FrameRecorder(out_dir / "frames")
    fallback_a = None
    with contextlib.ExitStack() as stack:
        wallbox, port, charger = _wallbox(stack, day, basic)
        car_w = lambda: float(wallbox.power_w)   # noqa: E731 (read when the inverter reports)
        data = make_source(source, lambda: house_w_at(day.hour()), car_w, day_seconds(day.t0, day.scale),
                           PUSH_INTERVAL_S)
        stack.callback(data.close)
        run = DemoRun(day, basic, data, wallbox)
        settings = demo_settings(secrets.token_urlsafe(12), port, out_dir, source=getattr(data, "settings", None),
                                 basic=basic)
        _start(run, charger, settings, out_dir, recorder)
        stack.callback(run.runtime.close)
        control = threading.Thread(target=run.runtime.run, name="control", daemon=True)
        control.start()
        try:
            fallback_a = _watch(run)
        except KeyboardInterrupt:
            print("Interrupted.")
        finally:
            run.runtime.stop()
            control.join(timeout=5)
    gif = out_dir / "demo.gif"
    recorder.write_gif(gif)
    return _summary(run, fallback_a, len(recorder.frames), out_dir, gif)
