"""`wallbox status|mode|pause|resume|sessions`: the running service from the shell.

The first four talk to the service over its control socket (settings state.control_socket); the
last reads the recorded sessions from the state directory and needs no running service.
`register(subparsers)` adds them to the `wallbox` command line.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import StateSettings, default_config_path
from .policy.types import MODES

DEFAULT_CONFIG = default_config_path()
SESSIONS_FILE = "sessions.csv"

# Key suffix -> unit printed after the value (longest suffixes first).
_UNITS = (("_kwh", "kWh"), ("_wh", "Wh"), ("_kw", "kW"), ("_w", "W"), ("_a", "A"), ("_v", "V"),
          ("_hz", "Hz"), ("_pct", "%"), ("_percent", "%"), ("_ms", "ms"), ("_s", "s"))


# -- settings ------------------------------------------------------------------------------------


def _state_value(config: str, key: str) -> str:
    """[state].<key> from the settings file, or the default when the file cannot be read.

    Only this one value is read, not the whole file validated: the settings file may be readable
    for root only (it holds the FTP password), and a user asking for the status should still
    reach the service at the usual place.
    """
    default = getattr(StateSettings(), key)
    try:
        with open(config, "rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return default
    value = raw.get("state", {}).get(key) if isinstance(raw.get("state"), dict) else None
    return value if isinstance(value, str) and value else default


def socket_path(args: argparse.Namespace) -> str:
    return args.socket or _state_value(args.config, "control_socket")


def state_dir(args: argparse.Namespace) -> str:
    return args.state_dir or _state_value(args.config, "dir")


# -- formatting ----------------------------------------------------------------------------------


def _clock(epoch_s: float, now_epoch_s: float | None = None) -> str:
    """Local time of day, with the date when it is not today."""
    t = datetime.fromtimestamp(epoch_s)
    today = datetime.fromtimestamp(now_epoch_s if now_epoch_s is not None else time.time()).date()
    return f"{t:%H:%M}" if t.date() == today else f"{t:%Y-%m-%d %H:%M}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _format_value(key: str, value: Any, now_epoch_s: float | None) -> tuple[str, str]:
    """(label, shown value) for one status entry, the unit taken from the key's suffix."""
    if key.endswith("_epoch_s"):
        label = key[: -len("_epoch_s")].replace("_", " ")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return label, _clock(value, now_epoch_s)
        return label, "-" if value is None else str(value)
    label, unit = key, ""
    for suffix, u in _UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            label, unit = key[: -len(suffix)], u
            break
    label = label.replace("_", " ")
    if value is None:
        return label, "-"
    if isinstance(value, bool):
        return label, "yes" if value else "no"
    if isinstance(value, (int, float)):
        return label, f"{_number(value)} {unit}".rstrip()
    if isinstance(value, (list, tuple)):
        return label, ", ".join(str(v) for v in value) or "-"
    return label, f"{value} {unit}".rstrip()


def _flatten(status: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in status.items():
        if not prefix and key == "ok":
            continue
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{key}."))
        else:
            items.append((prefix + key, value))
    return items


def format_status(status: dict, now_epoch_s: float | None = None) -> list[str]:
    """The service's status as aligned "key: value unit" lines."""
    rows = []
    for key, value in _flatten(status):
        head, _, last = key.rpartition(".")
        label, shown = _format_value(last, value, now_epoch_s)
        rows.append((f"{head} {label}" if head else label, shown))
    width = max((len(label) for label, _ in rows), default=0)
    return [f"{label + ':':<{width + 1}} {shown}" for label, shown in rows]


def describe_answer(command: str, answer: dict, now_epoch_s: float | None = None) -> str:
    """One readable sentence for the answer to a change command."""
    mode = answer.get("mode")
    until = answer.get("pause_until_epoch_s")
    if command == "mode" and mode:
        previous = answer.get("previous_mode")
        text = f"Mode is already {mode}." if previous == mode else \
            f"Mode is now {mode}" + (f" (was {previous})." if previous else ".")
        if answer.get("paused"):
            text += (f" Charging stays paused until {_clock(until, now_epoch_s)}" if until is not None
                     else " Charging stays paused") + "; wallbox resume charges now."
        return text
    if command == "pause" and answer.get("paused"):
        if until is not None:
            now = now_epoch_s if now_epoch_s is not None else time.time()
            minutes = max(0, round((until - now) / 60))
            return (f"Charging paused for {minutes} min, until {_clock(until, now_epoch_s)}; "
                    "wallbox resume ends it sooner.")
        return "Charging paused until you resume it: wallbox resume."
    if command == "resume":
        suffix = f" (mode {mode})." if mode else "."
        return ("Charging resumed" if answer.get("was_paused", True) else "Charging was not paused") + suffix
    return str(answer.get("message") or "Done.")


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def format_sessions(sessions: list, month: str | None = None) -> list[str]:
    """A table of sessions (local time) followed by the monthly totals."""
    from .sessions import monthly_totals

    local = [_to_local(s) for s in sessions]
    if month:
        local = [s for s in local if s.start.strftime("%Y-%m") == month]
    if not local:
        return [f"No charging sessions in {month}." if month else "No charging sessions recorded yet."]
    header = ("start", "end", "duration", "kWh", "PV %", "peak A", "")
    rows = []
    notes = False
    for s in local:
        same_day = s.end.date() == s.start.date()
        note = "" if s.energy_source == "meter" else "*"
        notes = notes or bool(note)
        rows.append((f"{s.start:%Y-%m-%d %H:%M}", f"{s.end:%H:%M}" if same_day else f"{s.end:%Y-%m-%d %H:%M}",
                     _duration(s.duration_s), f"{s.energy_wh / 1000:.1f}", f"{s.pv_share * 100:.0f}",
                     f"{s.peak_current_a:.1f}", note))
    lines = _table(header, rows, right=(3, 4, 5))
    if notes:
        lines.append("* energy from the car's power: the wallbox's meter reading was missing or went backwards")
    lines.append("")
    totals = [(t.month, str(t.sessions), f"{t.energy_kwh:.1f}", f"{t.pv_kwh:.1f}", f"{t.pv_share * 100:.0f}")
              for t in monthly_totals(local)]
    lines += _table(("month", "sessions", "kWh", "PV kWh", "PV %"), totals, right=(1, 2, 3, 4))
    return lines


def _to_local(s):
    from dataclasses import replace

    if s.start.tzinfo is None:
        return s
    return replace(s, start=s.start.astimezone(), end=s.end.astimezone())


def _table(header: tuple, rows: list[tuple], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells) -> str:
        out = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    return [line(header), *(line(r) for r in rows)]


# -- commands ------------------------------------------------------------------------------------


def _ask(args: argparse.Namespace, command: str, **params) -> dict | None:
    from .control_socket import ControlError, send_command

    try:
        return send_command(socket_path(args), command, **params)
    except ControlError as e:
        print(e, file=sys.stderr)
        return None


def cmd_status(args: argparse.Namespace) -> int:
    answer = _ask(args, "status")
    if answer is None:
        return 1
    print("\n".join(format_status(answer)))
    return 0


def _change(args: argparse.Namespace, command: str, **params) -> int:
    answer = _ask(args, command, **params)
    if answer is None:
        return 1
    print(describe_answer(command, answer))
    return 0


def cmd_mode(args: argparse.Namespace) -> int:
    return _change(args, "mode", mode=args.mode)


def cmd_pause(args: argparse.Namespace) -> int:
    return _change(args, "pause", minutes=args.minutes)


def cmd_resume(args: argparse.Namespace) -> int:
    return _change(args, "resume")


def cmd_sessions(args: argparse.Namespace) -> int:
    from .sessions import read_sessions

    path = Path(state_dir(args)) / SESSIONS_FILE
    try:
        sessions = read_sessions(path)
    except OSError as e:
        print(f"{path} cannot be read ({e.strerror or e}): run with sudo or check --state-dir.",
              file=sys.stderr)
        return 1
    if not sessions and not path.exists():
        print(f"No charging sessions recorded yet ({path} does not exist).")
        return 0
    print("\n".join(format_sessions(sessions, args.month)))
    return 0


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-11")
    return text


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes from 0 to 10080 "
                                         "(0 = until resumed)")
    return value


def register(subparsers) -> None:
    """Adds status, mode, pause, resume and sessions to the `wallbox` command line."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"settings file, to find the control socket (default {DEFAULT_CONFIG})")
    where.add_argument("--socket", default=None,
                       help=f"the service's control socket (default: state.control_socket, "
                            f"{StateSettings().control_socket})")

    p = subparsers.add_parser("status", parents=[where], help="what the running service is doing")
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser("mode", parents=[where], help="change the charging mode (fast, pv, minpv, off)")
    p.add_argument("mode", choices=MODES,
                   help="fast: grid allowance + PV; pv: PV surplus only; minpv: minimum current + PV; "
                        "off: no charging")
    p.set_defaults(func=cmd_mode)

    p = subparsers.add_parser("pause", parents=[where], help="hold the charging current at 0")
    p.add_argument("--minutes", type=_minutes, default=None,
                   help="resume by itself after this many minutes (default: until wallbox resume)")
    p.set_defaults(func=cmd_pause)

    p = subparsers.add_parser("resume", parents=[where], help="end a pause")
    p.set_defaults(func=cmd_resume)

    p = subparsers.add_parser("sessions", help="the recorded charging sessions and monthly totals")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"settings file, to find the state directory (default {DEFAULT_CONFIG})")
    p.add_argument("--state-dir", default=None,
                   help=f"where sessions.csv is (default: state.dir, {StateSettings().dir})")
    p.add_argument("--month", type=_month, default=None, help="only this month, YYYY-MM")
    p.set_defaults(func=cmd_sessions)
