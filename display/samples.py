"""Sample snapshots for every screen, and pictures of them for people and for tests.

    python -m display.samples OUT_DIR                     # every screen, 1:1 and 4x, as PNG
    python -m display.samples --golden tests/display/golden   # regenerate the golden images
    python -m display.samples --pictures display/pictures     # 2x pictures for the README

The golden images are the reference the tests compare `render` against; regenerate them only
after a deliberate change to the screens, look at them, and commit them with that change.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from PIL import Image

from display.output import OutputError, save, writable_dir
from display.screens import render
from display.snapshot import Snapshot

_NOW = datetime(2024, 6, 21, 13, 37)
_BASE = Snapshot(
    now=_NOW,
    version="0.1.0",
    ip_address="192.168.178.57",
    mode="fast",
    car_connected=True,
    allowance_w=11000.0,
    stale_after_s=60.0,
)


def samples() -> dict[str, Snapshot]:
    """One snapshot per screen and notable variant, keyed by a file-name-friendly name."""
    return {**_screen_samples(), **_problem_and_battery_samples()}


def _screen_samples() -> dict[str, Snapshot]:
    return {
        "starting": _BASE.replace(starting=True, car_connected=None),
        "starting_no_network": _BASE.replace(starting=True, car_connected=None, ip_address=None),
        "charging_fast_sun": _BASE.replace(
            charging=True, setpoint_a=24, current_a=23.8, car_power_w=16420.0,
            pv_w=5600.0, pv_age_s=3.0, budget_w=16600.0,
        ),
        "charging_fast_grid_only": _BASE.replace(
            now=_NOW.replace(hour=1, minute=12),
            charging=True, setpoint_a=16, current_a=15.9, car_power_w=10970.0,
            pv_w=0.0, pv_age_s=4.0, budget_w=11000.0,
        ),
        "charging_pv": _BASE.replace(
            mode="pv", charging=True, setpoint_a=8, current_a=7.9, car_power_w=5450.0,
            pv_w=7200.0, pv_age_s=2.0, grid_w=-310.0, budget_w=5760.0,
        ),
        "charging_pv_estimated": _BASE.replace(
            mode="pv", surplus_estimated=True, charging=True, setpoint_a=7, current_a=6.9,
            car_power_w=4760.0, pv_w=5200.0, pv_age_s=2.0, budget_w=4900.0,
        ),
        "charging_minpv": _BASE.replace(
            mode="minpv", charging=True, setpoint_a=9, current_a=9.0, car_power_w=6210.0,
            pv_w=3100.0, pv_age_s=5.0, grid_w=2950.0, budget_w=6210.0,
        ),
        "charging_inverter_stale": _BASE.replace(
            charging=True, setpoint_a=16, current_a=15.9, car_power_w=10970.0,
            pv_w=5600.0, pv_age_s=95.0, inverter_stale=True, budget_w=11000.0,
        ),
        "waiting_sun": _BASE.replace(
            mode="pv", waiting_for="sun", pv_w=2300.0, pv_age_s=3.0, grid_w=-1900.0,
            surplus_w=1900.0, start_needs_w=4140.0, budget_w=0.0,
        ),
        "waiting_sun_estimated": _BASE.replace(
            mode="pv", surplus_estimated=True, waiting_for="sun", pv_w=1200.0, pv_age_s=3.0,
            surplus_w=900.0, start_needs_w=4140.0, budget_w=0.0,
        ),
        "waiting_schedule": _BASE.replace(
            now=_NOW.replace(hour=22, minute=5), mode="off", waiting_for="schedule",
            schedule_start="00:30", pv_w=0.0, pv_age_s=6.0,
        ),
        "waiting_car": _BASE.replace(waiting_for="car", setpoint_a=16, pv_w=6100.0, pv_age_s=2.0, budget_w=11000.0),
        "paused": _BASE.replace(waiting_for="paused", pause_remaining_s=452.0, pv_w=4100.0, pv_age_s=2.0),
        "paused_until_resumed": _BASE.replace(waiting_for="paused", pv_w=4100.0, pv_age_s=2.0),
        "off": _BASE.replace(mode="off", waiting_for="off", pv_w=6100.0, pv_age_s=2.0),
        "no_car": _BASE.replace(mode="pv", car_connected=False, pv_w=3400.0, pv_age_s=2.0, grid_w=-2800.0),
        "no_car_no_pv_data": _BASE.replace(car_connected=False, pv_w=None, pv_age_s=None, inverter_stale=True),
    }


def _problem_and_battery_samples() -> dict[str, Snapshot]:
    return {
        "wallbox_offline": _BASE.replace(wallbox_offline=True, car_connected=None, pv_w=3400.0, pv_age_s=2.0,
                                         link_kind="rtu"),
        "wallbox_offline_tcp": _BASE.replace(wallbox_offline=True, car_connected=None, pv_w=3400.0, pv_age_s=2.0,
                                             link_kind="tcp"),
        # The longest message the settings check gives today, as the service shows it.
        "settings_invalid": _BASE.replace(
            starting=True,
            settings_error="wallbox.toml: fronius.ftp_password = '': required: choose a password and enter "
            "the same one in the inverter's Push Service (Settings -> Push Service -> FTP)",
        ),
        "settings_invalid_short": _BASE.replace(
            starting=True, settings_error="wallbox.toml: grid.allowance_w = -5: must be from 0 to 100000 W",
        ),
        "charging_battery_dimmed": _BASE.replace(
            mode="minpv", charging=True, setpoint_a=6, current_a=6.0, car_power_w=4140.0, dimmed=True,
            pv_w=3800.0, pv_age_s=2.0, grid_w=340.0, budget_w=4200.0, battery_w=600.0, soc_pct=62.0,
        ),
        "charging_car_lowering": _BASE.replace(
            charging=True, setpoint_a=21, current_a=24.0, car_power_w=16560.0,
            pv_w=3500.0, pv_age_s=1.0, budget_w=14500.0,
        ),
        "charging_big_grid": _BASE.replace(
            charging=True, setpoint_a=32, current_a=31.8, car_power_w=21950.0,
            pv_w=10240.0, pv_age_s=2.0, grid_w=10730.0, budget_w=22000.0, battery_w=-2300.0, soc_pct=35.0,
        ),
        "waiting_sun_battery": _BASE.replace(
            mode="pv", waiting_for="sun", pv_w=2300.0, pv_age_s=3.0, grid_w=-150.0,
            surplus_w=1900.0, start_needs_w=4140.0, budget_w=0.0, battery_w=-1750.0, soc_pct=48.0,
        ),
        "charging_card_full": _BASE.replace(
            charging=True, setpoint_a=16, current_a=15.9, car_power_w=10970.0, pv_w=5600.0, pv_age_s=2.0,
            budget_w=16600.0, storage_problem="SD card full: sessions not saved",
        ),
        "off_battery": _BASE.replace(mode="off", waiting_for="off", pv_w=6100.0, pv_age_s=2.0,
                                     battery_w=0.0, soc_pct=100.0),
    }


def render_all(out_dir: str | Path, scale: int = 4) -> list[Path]:
    """Write every sample screen to `out_dir` as NAME.png (1:1) and NAME@4x.png (nearest-neighbour)."""
    out = writable_dir(out_dir)
    written = []
    for name, snapshot in samples().items():
        image = render(snapshot)
        written.append(_save(image, out / f"{name}.png"))
        big = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
        written.append(_save(big, out / f"{name}@{scale}x.png"))
    return written


def write_golden(out_dir: str | Path) -> list[Path]:
    """Write the golden images (1:1 only) the tests compare against."""
    out = writable_dir(out_dir)
    return [_save(render(snapshot), out / f"{name}.png") for name, snapshot in samples().items()]


def write_pictures(out_dir: str | Path, scale: int = 2) -> list[Path]:
    """Write 2x pictures of the screens for the README."""
    out = writable_dir(out_dir)
    written = []
    for name, snapshot in samples().items():
        image = render(snapshot)
        big = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
        written.append(_save(big, out / f"{name}.png"))
    return written


def _save(image: Image.Image, path: Path) -> Path:
    # optimize=False and no metadata: the same picture always gives the same bytes.
    return save(image, path, format="PNG", optimize=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m display.samples", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="write every screen (1:1 and 4x) into this folder")
    parser.add_argument("--golden", metavar="DIR", help="regenerate the golden images in DIR")
    parser.add_argument("--pictures", metavar="DIR", help="write the README's 2x pictures into DIR")
    args = parser.parse_args(argv)
    if not (args.out_dir or args.golden or args.pictures):
        parser.error("name an output folder (OUT_DIR, --golden DIR or --pictures DIR)")
    written: list[Path] = []
    try:
        if args.out_dir:
            written += render_all(args.out_dir)
        if args.golden:
            written += write_golden(args.golden)
        if args.pictures:
            written += write_pictures(args.pictures)
    except OutputError as e:
        print(e, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} pictures written.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
