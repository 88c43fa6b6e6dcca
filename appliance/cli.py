"""The `wallbox` command line. Each command imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .config import default_config_path

DEFAULT_CONFIG = default_config_path()


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    from .chargers.vestel_ems import quiet_pymodbus_logging

    # pymodbus logs every failed connect in its own words; the wallbox link says it once, readably.
    quiet_pymodbus_logging()


def _load(path: str):
    """Settings from a file, or a readable reason and exit code 2."""
    from .config import ConfigError, load_settings

    try:
        return load_settings(path)
    except FileNotFoundError:
        print(f"{path}: no such file. Give the settings file with --config FILE "
              f"(an example: {Path(__file__).with_name('wallbox.example.toml')}).", file=sys.stderr)
    except OSError as e:
        print(f"{path}: cannot be read ({e.strerror}).", file=sys.stderr)
    except ConfigError as e:
        print(f"{path}: {len(e.problems)} problem(s); fix these and try again:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
    raise SystemExit(2)


def cmd_check_config(args) -> int:
    settings = _load(args.file)
    print(f"# {args.file}: settings are valid. Resolved values:")
    print(settings.describe(), end="")
    return 0


def cmd_run(args) -> int:
    import os

    from .config import ConfigError, load_settings
    from .service import run_service, run_with_invalid_settings

    _setup_logging(args.verbose)
    if os.environ.get("NOTIFY_SOCKET"):
        # Under systemd: a bad file is shown on the screen instead of a restart loop.
        try:
            settings = load_settings(args.config)
        except ConfigError as e:
            return run_with_invalid_settings(args.config, [str(p) for p in e.problems])
        except OSError as e:
            return run_with_invalid_settings(args.config, [f"cannot be read ({e.strerror})"])
    else:
        settings = _load(args.config)
    return run_service(settings, config_path=args.config)


def cmd_demo(args) -> int:
    from .sim.demo import run_demo

    _setup_logging(args.verbose)
    return run_demo(minutes=args.minutes, out_dir=Path(args.out))


def cmd_probe(args) -> int:
    from .probe import probe

    settings = _load(args.config)
    return probe(settings)


def cmd_render(args) -> int:
    from display.samples import render_all

    out = Path(args.out)
    paths = render_all(out)
    for p in paths:
        print(p)
    print(f"{len(paths)} pictures written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallbox",
        description="Charges an electric car from the grid allowance plus PV through a Vestel EVC04 "
                    "wallbox, with Fronius inverter data pushed by FTP.",
    )
    parser.add_argument("--version", action="version", version=f"wallbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="the appliance service (what systemd starts)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"settings file (default {DEFAULT_CONFIG})")
    p.add_argument("-v", "--verbose", action="store_true", help="also log every control cycle")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the whole appliance on this computer, no hardware or settings needed")
    p.add_argument("--minutes", type=float, default=1.0, help="length of the simulated PV day (default 1)")
    p.add_argument("--out", default="demo-output", help="where the screen pictures and the GIF go")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-config", help="validate a settings file and print the resolved values")
    p.add_argument("file")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("probe", help="connect to the wallbox and print its identity and live values")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"settings file (default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("render", help="write every screen with sample data as PNG")
    p.add_argument("--out", required=True, help="directory for the pictures")
    p.set_defaults(func=cmd_render)

    from . import cli_control
    from .sim import simulate

    cli_control.register(sub)
    simulate.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
