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
    root = logging.getLogger()
    had = list(root.handlers)   # someone else's handlers (a test harness) are left as they are
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    from .logsummary import RepeatSummarizer

    # A device retrying every second would otherwise fill the RAM journal with one line.
    summarizer = RepeatSummarizer()
    for handler in root.handlers:
        if handler not in had:
            handler.addFilter(summarizer)
    # pymodbus logs every failed connect in its own words; the wallbox drivers say it once, readably.
    # Set by the logger's name (as vestel_ems.quiet_pymodbus_logging does): importing the EMS
    # driver here would load it for a basic box too (0.4 MB and 9 modules that `run` never uses).
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def _load(path: str, only: tuple[str, ...] | None = None):
    """Settings from a file (only these sections, when given), or a readable reason and exit code 2."""
    from .config import ConfigError, load_settings

    try:
        return load_settings(path, only=only)
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
    return run_demo(minutes=args.minutes, out_dir=Path(args.out), basic=args.basic, source=args.source)


def cmd_probe(args) -> int:
    from .chargers.vestel_ems import quiet_pymodbus_logging
    from .probe import probe, probe_inverter_cmd

    quiet_pymodbus_logging()   # a refused connection is said once, in the probe's own words
    if args.inverter:
        from .cli_control import _state_value

        return probe_inverter_cmd(args.inverter, http_port=args.http_port, modbus_port=args.modbus_port,
                                  inverter_unit=args.inverter_unit, meter_unit=args.meter_unit,
                                  control_socket=_state_value(args.config, "control_socket"))
    # Only [wallbox] is read: the probe needs no FTP password or anything else.
    settings = _load(args.config, only=("wallbox",))
    return probe(settings)


def cmd_render(args) -> int:
    from display.samples import render_all

    out = Path(args.out)
    paths = render_all(out)  # display.output.OutputError for a folder that cannot be written
    for p in paths:
        print(p)
    print(f"{len(paths)} pictures written to {out}")
    return 0


_HELP_WIDTH: int | None = None


def _help_width() -> int:
    """The width argparse would take (shutil.get_terminal_size() less 2), asked once."""
    global _HELP_WIDTH
    if _HELP_WIDTH is None:
        import os

        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else 0
        if width <= 0:
            try:
                width = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                width = 0
        _HELP_WIDTH = (width or 80) - 2
    return _HELP_WIDTH


class _Parser(argparse.ArgumentParser):
    """argparse's parser with the help width asked once. argparse makes a formatter for every
    add_argument, and each imports shutil (with bz2, lzma and zlib) and asks the terminal: 2.6 ms
    of CPU of `wallbox run` before the first setpoint. Subparsers are made with this class too."""

    def _get_formatter(self):
        return self.formatter_class(prog=self.prog, width=_help_width())


def build_parser(full: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wallbox",
        description="Charges an electric car from the grid allowance plus PV through a Vestel EVC04 "
                    "wallbox, with Fronius inverter data (FTP push, Solar API or Modbus SunSpec).",
        epilog=f"Every command reads its settings from {DEFAULT_CONFIG} unless given --config FILE.",
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
    p.add_argument("--basic", action="store_true",
                   help="a basic EVC04 (no network module) driven by meter emulation over pseudo-terminals "
                        "(needs socat)")
    p.add_argument("--source", choices=("push", "solar_api", "sunspec"), default="push",
                   help="how the simulated inverter delivers its data: FTP push (default), Solar API "
                        "polling, or Modbus TCP SunSpec (a simulated GEN24 with a battery)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-config", help="validate a settings file and print the resolved values")
    p.add_argument("file")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("probe", help="which wallbox answers on the [wallbox] link, and how to drive it; "
                                     "with --inverter HOST: which inverter data sources answer there")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"settings file (default {DEFAULT_CONFIG}); only [wallbox] is read")
    p.add_argument("--inverter", metavar="HOST", help="ask the inverter at HOST instead: Solar API, SunSpec, pushes")
    p.add_argument("--http-port", type=int, default=80, help="the inverter's Solar API port (default 80)")
    p.add_argument("--modbus-port", type=int, default=502, help="the inverter's Modbus TCP port (default 502)")
    p.add_argument("--inverter-unit", type=int, default=1, help="SunSpec unit of the inverter (default 1)")
    p.add_argument("--meter-unit", type=int, default=200, help="SunSpec unit of the meter (default 200)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("render", help="write every screen with sample data as PNG")
    p.add_argument("--out", required=True, help="directory for the pictures")
    p.set_defaults(func=cmd_render)

    if full:  # `wallbox run` starts faster without the other commands' modules
        from . import cli_control
        from .bench import register as register_bench
        from .sim import simulate

        cli_control.register(sub)
        simulate.register(sub)
        register_bench(sub)
    return parser


def _check_chart_path(args) -> None:
    """`simulate --chart FILE`: an unwritable file is said before the day is simulated."""
    chart = getattr(args, "chart", None)
    if not chart:
        return
    from display.output import OutputError

    target = Path(chart)
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "ab"):
            pass
    except OSError as e:
        raise OutputError(f"Cannot write the chart to {target} ({e.strerror or e}): choose a file in a "
                          f"folder you may write to, e.g. /tmp/day.png.") from e
    if not existed:
        target.unlink()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(full=not (argv and argv[0] == "run"))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _check_chart_path(args)
        return args.func(args)
    except OSError as e:
        # display.output (and Pillow with it) is not imported for this: `run` would load Pillow
        # before the first setpoint. Only a command that loaded it can have raised its error.
        output = sys.modules.get("display.output")
        if output is None or not isinstance(e, output.OutputError):
            raise
        print(f"wallbox {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
