"""`wallbox demo`: the whole appliance on this computer, no hardware and no settings.

A simulated Vestel wallbox (a pymodbus server with a car model) listens on loopback; a simulated
Fronius inverter pushes power-flow files by FTP every second, following a PV day compressed into
about a minute; the real runtime and core sit in between and decide. At the end the pushes stop, and the
service must fall back to the allowance-only current. An independent monitor checks the safety
rules against what the wallbox was told, and the run ends with a summary.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..config import Settings, with_overrides
from ..runtime import Runtime
from .inverter import SimulatedInverter, pv_day_w
from .wallbox import SimulatedWallbox

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
    wallbox: SimulatedWallbox
    energy_scale: float
    pushes: list = field(default_factory=list)      # (monotonic time, pv_w)
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
        if setpoint * s.watts_per_amp > limit_w + 1e-6:
            self.violations.append(f"rule 2: {setpoint} A x {s.watts_per_amp:g} W/A > {limit_w:.0f} W")
        # Rule 5: the failsafe current the box would fall back to is safe with no PV.
        if self.wallbox.failsafe_current_a > s.allowance_only_current_a:
            self.violations.append(f"rule 5: failsafe {self.wallbox.failsafe_current_a} A")


def demo_settings(ftp_password: str, wallbox_port: int, out_dir: Path) -> Settings:
    base = Settings()
    return with_overrides(
        base,
        wallbox={"transport": "tcp", "host": "127.0.0.1", "port": wallbox_port, "failsafe_timeout_s": 20},
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": ftp_password,
                 "stale_after_s": STALE_AFTER_S},
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

    def pv_w(self) -> float:
        if time.monotonic() - self.t0 > self.day_s:
            return 0.0
        return pv_day_w(self.hour() / 24.0, peak_w=PV_PEAK_W, clouds=True)

    def log_in_day_time(self) -> None:
        day = self

        class SimTime(logging.Formatter):
            def format(self, record):
                return f"[{day.clock():%H:%M}] {record.getMessage()}"

        for handler in logging.getLogger().handlers:
            handler.setFormatter(SimTime())
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def _watch(day: DemoDay, monitor: Monitor, inverter: SimulatedInverter, wallbox: SimulatedWallbox) -> int:
    """Checks the rules five times a second; stops the pushes at the end of the day. Returns the
    current the wallbox holds once the data has gone stale."""
    last = time.monotonic()
    end_of_day = day.t0 + day.day_s
    stop_at = end_of_day + STALE_AFTER_S + 4.0
    stopped_pushing = False
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        monitor.check(now, now - last, day.pv_w(), house_w_at(day.hour()))
        last = now
        if not stopped_pushing and now >= end_of_day:
            inverter.pause_pushing()
            stopped_pushing = True
            print(f"== The inverter stops pushing (as at a Wi-Fi outage); the service must fall back to "
                  f"the allowance-only current within {STALE_AFTER_S:.0f} s.")
        if now >= stop_at:
            return wallbox.setpoint_a


def _summary(monitor: Monitor, wallbox: SimulatedWallbox, runtime: Runtime, fallback_a: int | None,
             frames: int, out_dir: Path, gif: Path) -> int:
    violations = monitor.violations + list(wallbox.violations)
    expected_fallback = runtime.settings.allowance_only_current_a
    share = monitor.pv_energy_wh / monitor.energy_wh if monitor.energy_wh else 0.0
    core = runtime.core
    print()
    print("== Summary")
    print(f"Energy charged:          {monitor.energy_wh / 1000:6.1f} kWh (simulated day)")
    print(f"Share from PV:           {share * 100:6.0f} %")
    print(f"Highest current:         {monitor.highest_a:6d} A")
    print(f"Inverter pushes:         {core.accepted_pushes:6d} accepted, {core.rejected_pushes} rejected")
    print(f"After the data stopped:  {fallback_a} A (allowance only: {expected_fallback} A)")
    print(f"Safety-rule violations:  {len(violations):6d}")
    for v in violations[:10]:
        print(f"  {v}")
    print(f"Screen pictures:         {out_dir}/frames/ ({frames} frames), animation {gif}")
    ok = not violations and fallback_a == expected_fallback and monitor.highest_a > expected_fallback
    if not ok:
        print("The demo did not behave as it should: see the lines above.")
    return 0 if ok else 1


def run_demo(minutes: float = 1.0, out_dir: Path = Path("demo-output")) -> int:
    from display.backends import make_backend
    from display.recorder import FrameRecorder

    out_dir.mkdir(parents=True, exist_ok=True)
    day = DemoDay(minutes)
    day.log_in_day_time()
    print(f"== Demo: a PV day from {DAY_START_H:02.0f}:00 to {DAY_END_H:02.0f}:00 in {day.day_s:.0f} s; "
          f"allowance 11.0 kW, 3 x 230 V; pictures in {out_dir}/")
    wallbox = SimulatedWallbox(energy_time_scale=day.scale)
    port = wallbox.serve_tcp("127.0.0.1", 0)
    wallbox.plug_in(car_max_a=32)
    password = secrets.token_urlsafe(12)
    settings = demo_settings(password, port, out_dir)
    recorder = FrameRecorder(out_dir / "frames")
    runtime = Runtime(
        settings, display_backend=make_backend("png", png_path=settings.display.png_path),
        on_frame=lambda image: recorder.add(image, time.monotonic() - day.t0), wall_clock=day.clock,
        # The policy's memory of PV drops and its wait before a 1 A raise are times of the day:
        # scaled like the day itself.
        policy_overrides={"pv_drop_memory_s": 900.0 / day.scale, "small_raise_after_s": 3600.0 / day.scale})
    monitor = Monitor(settings, wallbox, day.scale)

    def pv_pushed() -> float:
        value = day.pv_w()
        monitor.pushed(value)
        return value

    runtime.start()
    host, ftp_port = runtime.receiver.address
    inverter = SimulatedInverter(
        host=host, port=ftp_port, user=settings.fronius.ftp_user, password=password,
        interval_s=PUSH_INTERVAL_S, pv_w=pv_pushed, house_w=lambda: house_w_at(day.hour()),
        car_w=lambda: float(wallbox.power_w))
    control = threading.Thread(target=runtime.run, name="control", daemon=True)
    control.start()
    inverter.start()
    fallback_a = None
    try:
        fallback_a = _watch(day, monitor, inverter, wallbox)
    except KeyboardInterrupt:
        print("Interrupted.")
    finally:
        inverter.stop()
        runtime.stop()
        control.join(timeout=5)
        runtime.close()
        wallbox.stop()
    gif = out_dir / "demo.gif"
    recorder.write_gif(gif)
    return _summary(monitor, wallbox, runtime, fallback_a, len(recorder.frames), out_dir, gif)
