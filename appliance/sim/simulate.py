"""`wallbox simulate`: the appliance's core over a simulated day, second by second.

The day (appliance/sim/day.py) gives PV, house load and a car for every second. Every `step_s`
seconds the inverter pushes a measurement: the appliance sees that moment's PV and the grid meter's
reading (grid = house + car - PV; no reading with `meter=False`). Every `cycle_s` seconds (default
1 s) the wallbox reports the car's power as a charger reading and the core (`ApplianceCore`, the
code the service runs, stepped with the simulated clock) ticks and sets the wallbox's current. PV and house keep changing second by second: a PV
drop between two pushes is unknown to the appliance until the next push, just as on the real
installation. The car follows a new setpoint within the same second.

Bookkeeping, per simulated second (all powers in W, energies summed over seconds):

- car_w: what the car draws: min(setpoint, car's max) x phases x voltage while it is plugged in
  and still needs energy, else 0.
- PV into the car: min(car_w, max(0, pv_w - house_w)); the house uses PV first.
- PV surplus left unused: max(0, pv_w - house_w - car_w) (exported to the grid).
- Grid import by the wallbox above the allowance (safety rule 2): over_w = max(0, car_w -
  allowance_w - pv_w). The part of it that the last push already made known is
  known_w = max(0, car_w - allowance_w - pv_known_w) with pv_known_w the PV of the latest push
  (0 once that is `stale_after_s` old). `outside` = min(over_w, known_w): the setpoint broke the
  rule for what the appliance knew; the target is 0. `in_drop_interval` = over_w - outside: PV
  fell after the latest push and the appliance cannot know it before the next push, so this part
  always lies within one push interval after a PV drop.
- Import limit (safety rule 3, with a grid meter and grid.import_limit_w > 0): the wallbox's part of
  the house's import above the limit, over_w = min(car_w, max(0, house_w + car_w - pv_w - limit)),
  split the same way with the house load and PV of the latest push.
- Takeable PV surplus (the yardstick for pv mode): while the car is plugged in and still needs
  energy, the surplus s = pv_w - house_w that a car drawing min..max A on every phase could take:
  0 when s is below the minimum current's worth, s capped at the maximum current's worth otherwise.
  `taken` = min(PV into the car, takeable); the share is taken / takeable.
- starts and stops: the car's power going from 0 to more than 0 and back; setpoint changes: pushes
  after which the setpoint differs from before.

The naive rule (`rule="naive"`) for comparison sets, at each push, setpoint = (allowance + PV) /
(phases x voltage) in fast mode, surplus / (phases x voltage) in pv mode, max(minimum, that) in
minpv mode, clamped to 0 or min..max A; no delays, no raise limit.

Schedule windows: the mode at each push is `mode_in_force(mode, settings.control.schedule,
local wall-clock time)`. The simulated second t is the real instant local midnight + t s, turned
into the local time of `control.timezone` ("" = no time zone, wall clock = t). On a day the clocks
change, a window is in force while the local wall-clock time lies inside it (see mode_in_force).
"""

from __future__ import annotations

import argparse
import math
import sys
import time as time_mod
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from ..chargers.base import ChargerHealth, ChargerReading
from ..config import EXAMPLE_PATH, ConfigError, Settings, load_settings, parse_settings
from ..core import ApplianceCore, Clocks
from ..policy.control import MODES, PolicySettings, clamp_current, mode_in_force
from ..sources.fronius import Measurement
from .day import PROFILES, Day, ProfileError, build_day

RULES = ("ours", "naive")
READ_EVERY_S = 5  # the simulated wallbox reports an unchanged car this often (stale after 10 s)


@dataclass(frozen=True)
class Push:
    """One push as the appliance saw it, and the setpoint it chose. The physical values are the
    simulation's own (what a checker compares against), not the policy's."""

    t_s: int
    mode: str                 # the mode in force at this push
    pv_w: float
    house_w: float
    grid_w: float | None      # None without a grid meter
    car_w: float              # the car's draw when the push arrived (old setpoint)
    plugged: bool
    needs_energy: bool
    setpoint_before_a: int
    setpoint_a: int           # chosen at this push, in force until the next push


@dataclass
class DayResult:
    """The figures of one simulated day (see the module docstring for the bookkeeping)."""

    profile: str
    mode: str
    rule: str
    step_s: int
    meter: bool
    car_kwh: float = 0.0
    pv_to_car_kwh: float = 0.0
    pv_unused_kwh: float = 0.0
    takeable_kwh: float = 0.0
    taken_kwh: float = 0.0
    over_allowance_in_drop_interval_wh: float = 0.0
    over_allowance_in_drop_interval_s: int = 0
    over_allowance_outside_wh: float = 0.0
    over_allowance_outside_s: int = 0
    over_import_limit_in_drop_interval_wh: float = 0.0
    over_import_limit_in_drop_interval_s: int = 0
    over_import_limit_outside_wh: float = 0.0
    over_import_limit_outside_s: int = 0
    starts: int = 0
    stops: int = 0
    setpoint_changes: int = 0
    need_left_kwh: float = 0.0
    run_time_s: float = 0.0
    pushes: list[Push] = field(default_factory=list, repr=False)
    car_w: list[float] = field(default_factory=list, repr=False)  # per second, for charts/checks
    setpoint_a: list[int] = field(default_factory=list, repr=False)  # per second, after the cycle

    @property
    def takeable_share(self) -> float | None:
        """Share of the takeable PV surplus that went into the car, None if there was none."""
        return self.taken_kwh / self.takeable_kwh if self.takeable_kwh > 1e-3 else None


class NaiveRule:
    """Setpoint straight from each sample: no delays, no raise limit (for comparison only)."""

    def __init__(self, cfg: PolicySettings):
        self.cfg = cfg

    def decide(self, mode: str, pv_w: float, grid_w: float | None, car_w: float) -> int:
        cfg = self.cfg
        wpa = cfg.watts_per_amp
        if mode == "fast":
            return clamp_current((cfg.allowance_w + pv_w) / wpa, cfg.min_current_a, cfg.max_current_a)
        if mode in ("pv", "minpv"):
            surplus_w = car_w - grid_w if grid_w is not None else pv_w - cfg.house_base_load_w
            amps = surplus_w / wpa
            if mode == "minpv":
                amps = max(cfg.min_current_a, amps)
            return clamp_current(amps, cfg.min_current_a, cfg.max_current_a)
        return 0


class LocalClock:
    """Simulated second (real seconds since local midnight) -> local wall-clock datetime."""

    def __init__(self, day, tz_name: str):
        self.tz = ZoneInfo(tz_name) if tz_name else None
        if self.tz is None:
            self.midnight = datetime.combine(day, time(0))
        else:
            self.midnight = datetime.combine(day, time(0), tzinfo=self.tz).astimezone(timezone.utc)

    def local(self, t_s: float) -> datetime:
        instant = self.midnight + timedelta(seconds=t_s)
        return instant if self.tz is None else instant.astimezone(self.tz)


def default_settings() -> Settings:
    """The example settings file with a placeholder FTP password (the simulation needs none)."""
    import tomllib

    raw = tomllib.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
    raw.setdefault("fronius", {})["ftp_password"] = "simulation"
    return parse_settings(raw, str(EXAMPLE_PATH))


def simulate_day(day: Day, settings: Settings, *, mode: str | None = None, step_s: int = 10,
                 cycle_s: int = 1, meter: bool = True, rule: str = "ours",
                 keep_pushes: bool = True) -> DayResult:
    """Runs one day; see the module docstring for what is counted and how."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if step_s < 1:
        raise ValueError(f"step_s must be at least 1 s, got {step_s}")
    if cycle_s < 1:
        raise ValueError(f"cycle_s must be at least 1 s, got {cycle_s}")
    started = time_mod.perf_counter()
    cfg = PolicySettings.from_settings(settings)
    base_mode = mode or settings.control.mode
    if base_mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {base_mode!r}")
    schedule = settings.control.schedule
    clock = LocalClock(day.day, settings.control.timezone) if schedule else None
    # The appliance's own core, stepped with the simulated clock: every simulated day exercises
    # the glue (pairing, usable readings, schedule), not just the policy.
    core = ApplianceCore(cfg, default_mode=base_mode, schedule=schedule, logger=None)
    link_up = ChargerHealth(connected=True, holding=True)
    no_clock = datetime(2000, 1, 1)
    reported, reported_at = None, -math.inf
    naive = NaiveRule(cfg)

    wpa = cfg.watts_per_amp
    allowance_w = cfg.allowance_w
    limit_w = cfg.import_limit_w if meter else 0.0
    stale_s = cfg.stale_after_s
    car = day.car
    car_max_a = car.max_current_a
    min_w = cfg.min_current_a * wpa
    cap_w = min(cfg.max_current_a, car_max_a) * wpa
    need_wh = car.need_wh

    res = DayResult(day.name, base_mode, rule, step_s, meter)
    pushes = res.pushes
    car_series = res.car_w
    setpoint_series = res.setpoint_a
    setpoint_a = 0
    last_push_s = -math.inf
    pv_known_w = house_known_w = 0.0
    prev_car_w = 0.0
    car_wh = pv_car_wh = unused_wh = takeable_wh = taken_wh = 0.0
    ov_in_wh = ov_out_wh = il_in_wh = il_out_wh = 0.0
    ov_in_s = ov_out_s = il_in_s = il_out_s = 0
    pv_w_series, house_series = day.pv_w, day.house_w
    start_s = day.start_s
    plug_from, plug_until = car.plugged_from_s, car.plugged_until_s
    pushed_grid = pushed_at = None
    mode_now = base_mode

    for i in range(day.end_s - start_s):
        t = start_s + i
        pv = pv_w_series[i]
        house = house_series[i]
        plugged = plug_from <= t < plug_until
        needs = plugged and need_wh > 1e-9
        push = i % step_s == 0
        if push or (rule == "ours" and i % cycle_s == 0):
            car_now_w = min(setpoint_a, car_max_a) * wpa if needs else 0.0
            if push:
                pushed_at = float(t)
                pushed_grid = house + car_now_w - pv if meter else None
                last_push_s, pv_known_w, house_known_w = t, pv, house
            local = clock.local(t) if clock is not None else no_clock
            before = setpoint_a
            if rule == "ours":
                # What the wallbox reports this second, then the push (its grid reading includes
                # what the car draws now), then the core decides.
                # A new reading when something changed, else every few seconds like the link.
                if (car_now_w, plugged) != reported or t - reported_at >= READ_EVERY_S:
                    amps = car_now_w / wpa
                    core.charger(ChargerReading(
                        at_s=float(t), car_connected=plugged, charging=car_now_w > 0,
                        power_w=car_now_w, currents_a=(amps, amps, amps), limit_a=None), link_up)
                    reported, reported_at = (car_now_w, plugged), t
                if push:
                    core.measurement(Measurement(
                        pv_w=pv, grid_w=pushed_grid, load_w=None, battery_w=None,
                        kind="powerflow" if meter else "inverter", inverter_time=None,
                        source="simulation", received_at=pushed_at))
                setpoint_a = core.tick(Clocks(float(t), local, float(t)))
                mode_now = core.decision.mode
            else:
                if clock is not None:
                    mode_now, _ = mode_in_force(base_mode, schedule, local)
                setpoint_a = naive.decide(mode_now, pv, pushed_grid, car_now_w)
            if setpoint_a != before:
                res.setpoint_changes += 1
            if push and keep_pushes:
                pushes.append(Push(t, mode_now, pv, house, pushed_grid, car_now_w, plugged, needs,
                                   before, setpoint_a))
        car_w = min(setpoint_a, car_max_a) * wpa if needs else 0.0
        if car_w > need_wh * 3600.0:
            car_w = need_wh * 3600.0
        need_wh -= car_w / 3600.0
        car_series.append(car_w)
        setpoint_series.append(setpoint_a)
        if (car_w > 0) != (prev_car_w > 0):
            if car_w > 0:
                res.starts += 1
            else:
                res.stops += 1
        prev_car_w = car_w

        surplus = pv - house
        pv_car = min(car_w, surplus) if surplus > 0 else 0.0
        car_wh += car_w
        pv_car_wh += pv_car
        if surplus > car_w:
            unused_wh += surplus - car_w
        if needs and surplus >= min_w:
            take = surplus if surplus < cap_w else cap_w
            takeable_wh += take
            taken_wh += pv_car if pv_car < take else take

        fresh = t - last_push_s < stale_s
        over = car_w - allowance_w - pv
        if over > 0:
            known = car_w - allowance_w - (pv_known_w if fresh else 0.0)
            out = min(over, known) if known > 0 else 0.0
            if out > 0:
                ov_out_wh += out
                ov_out_s += 1
            if over - out > 1e-9:
                ov_in_wh += over - out
                ov_in_s += 1
        if limit_w > 0 and car_w > 0:
            over = min(car_w, house + car_w - pv - limit_w)
            if over > 0:
                known_house = house_known_w if fresh else math.inf
                known = min(car_w, known_house + car_w - (pv_known_w if fresh else 0.0) - limit_w)
                out = min(over, known) if known > 0 else 0.0
                if out > 0:
                    il_out_wh += out
                    il_out_s += 1
                if over - out > 1e-9:
                    il_in_wh += over - out
                    il_in_s += 1

    res.car_kwh = car_wh / 3.6e6
    res.pv_to_car_kwh = pv_car_wh / 3.6e6
    res.pv_unused_kwh = unused_wh / 3.6e6
    res.takeable_kwh = takeable_wh / 3.6e6
    res.taken_kwh = taken_wh / 3.6e6
    res.over_allowance_in_drop_interval_wh = ov_in_wh / 3600
    res.over_allowance_in_drop_interval_s = ov_in_s
    res.over_allowance_outside_wh = ov_out_wh / 3600
    res.over_allowance_outside_s = ov_out_s
    res.over_import_limit_in_drop_interval_wh = il_in_wh / 3600
    res.over_import_limit_in_drop_interval_s = il_in_s
    res.over_import_limit_outside_wh = il_out_wh / 3600
    res.over_import_limit_outside_s = il_out_s
    res.need_left_kwh = max(0.0, need_wh) / 1000
    res.run_time_s = time_mod.perf_counter() - started
    return res


# ---------------------------------------------------------------------------------------------
# Chart


def draw_chart(day: Day, result: DayResult, path: str | Path, settings: Settings,
               title: str | None = None) -> Path:
    """The day as a PNG (Pillow): PV, house, car, allowance + PV; hours and kW on the axes."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = 1200, 560
    left, right, top, bottom = 70, 20, 50, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    allowance_w = settings.grid.allowance_w
    n = day.end_s - day.start_s
    top_w = max(max(day.pv_w) + allowance_w, max(result.car_w or [0.0]), max(day.house_w)) * 1.05
    top_kw = max(2, math.ceil(top_w / 2000) * 2)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=13)
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)

    def x_of(t_s: float) -> float:
        return left + (t_s - day.start_s) / n * plot_w

    def y_of(watts: float) -> float:
        return top + plot_h - watts / (top_kw * 1000) * plot_h

    # Grid lines and labels.
    kw_step = 2 if top_kw <= 24 else 4
    for kw in range(0, top_kw + 1, kw_step):
        y = y_of(kw * 1000)
        d.line([(left, y), (left + plot_w, y)], fill=(225, 225, 225))
        d.text((left - 8, y), f"{kw} kW", fill="black", font=small, anchor="rm")
    first_h, last_h = math.ceil(day.start_s / 3600), math.floor(day.end_s / 3600)
    hour_step = 2 if last_h - first_h > 12 else 1
    for h in range(first_h, last_h + 1, hour_step):
        x = x_of(h * 3600)
        d.line([(x, top), (x, top + plot_h)], fill=(235, 235, 235))
        d.text((x, top + plot_h + 6), f"{h:02d}:00", fill="black", font=small, anchor="mt")
    d.rectangle([left, top, left + plot_w, top + plot_h], outline="black")

    # One value per pixel column: the mean of its seconds (peaks of a few seconds are thinner).
    cols = int(plot_w)

    def column_means(series: list[float]) -> list[float]:
        out = []
        for c in range(cols):
            a, b = c * n // cols, max(c * n // cols + 1, (c + 1) * n // cols)
            out.append(sum(series[a:b]) / (b - a))
        return out

    pv, house, car = column_means(day.pv_w), column_means(day.house_w), column_means(result.car_w)
    xs = [left + c + 0.5 for c in range(cols)]
    pv_poly = [(xs[0], y_of(0))] + [(x, y_of(v)) for x, v in zip(xs, pv)] + [(xs[-1], y_of(0))]
    d.polygon(pv_poly, fill=(255, 226, 120))
    car_poly = [(xs[0], y_of(0))] + [(x, y_of(v)) for x, v in zip(xs, car)] + [(xs[-1], y_of(0))]
    d.polygon(car_poly, fill=(150, 190, 245))
    d.line([(x, y_of(v)) for x, v in zip(xs, pv)], fill=(230, 160, 0), width=2)
    d.line([(x, y_of(v)) for x, v in zip(xs, house)], fill=(90, 90, 90), width=2)
    d.line([(x, y_of(v)) for x, v in zip(xs, car)], fill=(20, 80, 200), width=2)
    d.line([(x, y_of(v + allowance_w)) for x, v in zip(xs, pv)], fill=(210, 30, 30), width=2)

    head = title or f"{day.name}: {result.mode} mode, pushes every {result.step_s} s"
    d.text((left, 14), head, fill="black", font=font)
    figures = (f"car {result.car_kwh:.1f} kWh, of it PV {result.pv_to_car_kwh:.1f} kWh; "
               f"PV unused {result.pv_unused_kwh:.1f} kWh; starts {result.starts}")
    d.text((left + plot_w, 14), figures, fill="black", font=small, anchor="ra")
    legend = [((255, 226, 120), "PV"), ((90, 90, 90), "house"), ((20, 80, 200), "car (wallbox)"),
              ((210, 30, 30), f"allowance {allowance_w / 1000:g} kW + PV: the car's limit")]
    x = left
    y = height - 28
    for colour, label in legend:
        d.rectangle([x, y - 7, x + 22, y + 7], fill=colour)
        d.text((x + 30, y), label, fill="black", font=font, anchor="lm")
        x += 40 + d.textlength(label, font=font) + 20
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


# ---------------------------------------------------------------------------------------------
# Command line

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


def _markdown(settings: Settings, seed: int, step_s: int, out) -> bool:
    """The README table: every built-in profile, fast and pv, ours vs naive. True if all targets held."""
    ok = True
    print("| profile | mode | rule | car kWh | PV into car kWh | PV unused kWh | share of takeable PV "
          "| over allowance after a PV drop (Wh / s) | over allowance otherwise (Wh) | starts "
          "| setpoint changes | run time s |", file=out)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    for name in PROFILES:
        day = build_day(name, seed)
        for mode in ("fast", "pv"):
            ours = simulate_day(day, settings, mode=mode, step_s=step_s, rule="ours")
            naive = simulate_day(day, settings, mode=mode, step_s=step_s, rule="naive")
            for r in (ours, naive):
                print(f"| {name} | {mode} | {r.rule} | {r.car_kwh:.1f} | {r.pv_to_car_kwh:.1f} | "
                      f"{r.pv_unused_kwh:.1f} | {_share(r) if mode == 'pv' else ''} | "
                      f"{r.over_allowance_in_drop_interval_wh:.1f} / "
                      f"{r.over_allowance_in_drop_interval_s} | {r.over_allowance_outside_wh:.1f} | "
                      f"{r.starts} | {r.setpoint_changes} | {r.run_time_s:.2f} |", file=out)
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
    if args.all:
        started = time_mod.perf_counter()
        ok = _markdown(settings, args.seed, args.step_s, out)
        print(f"\n{len(PROFILES) * 4} days in {time_mod.perf_counter() - started:.1f} s; "
              f"targets {'met' if ok else 'MISSED'}", file=out)
        return 0 if ok else 1
    try:
        day = build_day(args.profile, args.seed)
    except (ProfileError, ValueError) as e:
        print(f"wallbox simulate: {e}", file=sys.stderr)
        return 2
    mode = args.mode or settings.control.mode
    results = [simulate_day(day, settings, mode=mode, step_s=args.step_s, meter=not args.no_meter)]
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
    p.add_argument("--compare", action="store_true", help="also run the naive rule, side by side")
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
