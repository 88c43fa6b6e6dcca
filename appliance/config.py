"""The settings file (TOML) turned into validated, typed settings.

Every problem in a file is collected, not just the first: the user gets one line per problem with
the key, the value and what is allowed, so one edit fixes them all. Unknown keys are problems too
(a typo such as `alowance_w` must not silently leave the default in force).
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MODES = ("fast", "pv", "minpv", "off")
DISPLAY_BACKENDS = ("st7735", "png", "none")
# The LCD's pins (BCM): the button must not share them (hardware.md).
LCD_PINS = {7: "SPI chip select CE1", 8: "SPI chip select CE0", 9: "SPI MISO", 10: "SPI MOSI",
            11: "SPI clock", 25: "LCD data/command", 27: "LCD reset", 18: "LCD backlight"}
EXAMPLE_PATH = Path(__file__).with_name("wallbox.example.toml")
# Where the settings live: /etc for a hand-made install, the boot partition on the SD-card image
# (the file users edit from any computer before the first boot).
CONFIG_LOCATIONS = ("/etc/wallbox/wallbox.toml", "/boot/firmware/wallbox.toml")


def default_config_path() -> str:
    """The first settings file that exists, else the first location (for the error message)."""
    for candidate in CONFIG_LOCATIONS:
        if Path(candidate).exists():
            return candidate
    return CONFIG_LOCATIONS[0]


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is _MISSING else repr(self.value)
        return f"{self.key} = {shown}: {self.allowed}"


class ConfigError(Exception):
    """The settings file cannot be used; `problems` says why, one entry per problem."""

    def __init__(self, problems: list[Problem], source: str = "settings"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()


@dataclass(frozen=True)
class GridSettings:
    allowance_w: int = 11000
    phases: int = 3
    voltage_v: float = 230.0
    import_limit_w: int = 0


@dataclass(frozen=True)
class WallboxSettings:
    transport: str = "rtu"
    serial_port: str = "/dev/ttyUSB0"
    baudrate: int = 9600
    parity: str = "E"
    stopbits: int = 1
    host: str = ""
    port: int = 502
    unit_id: int = 255
    min_current_a: int = 6
    max_current_a: int = 32
    failsafe_timeout_s: int = 20
    # None in the file means "the allowance-only current"; resolved in Settings.
    failsafe_current_a: int | None = None


@dataclass(frozen=True)
class FroniusSettings:
    ftp_host: str = "0.0.0.0"
    ftp_port: int = 21
    ftp_user: str = "fronius"
    ftp_password: str = ""
    allowed_ips: tuple[str, ...] = ()
    stale_after_s: float = 60.0
    solar_api_url: str = ""
    solar_api_interval_s: float = 5.0


@dataclass(frozen=True)
class ScheduleWindow:
    start: time
    end: time
    mode: str

    def contains(self, t: time) -> bool:
        """True when local wall-clock time t lies in [start, end), also across midnight."""
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.mode}"


@dataclass(frozen=True)
class ControlSettings:
    mode: str = "fast"
    ramp_up_interval_s: float = 30.0
    enable_delay_s: float = 60.0
    disable_delay_s: float = 300.0
    min_restart_interval_s: float = 600.0
    house_base_load_w: int = 300
    timezone: str = ""
    schedule: tuple[ScheduleWindow, ...] = ()


@dataclass(frozen=True)
class DisplaySettings:
    backend: str = "st7735"
    png_path: str = "/run/wallbox/screen.png"
    spi_port: int = 0
    spi_cs: int = 0
    dc_pin: int = 25
    reset_pin: int = 27
    backlight_pin: int = 18
    rotation: int = 90
    invert: bool = True
    bgr: bool = True
    offset_left: int = 2
    offset_top: int = 1
    spi_speed_hz: int = 4_000_000
    backlight_timeout_s: float = 0.0


@dataclass(frozen=True)
class ButtonSettings:
    pin: int = 21
    pause_minutes: float = 10.0
    long_press_s: float = 2.0


@dataclass(frozen=True)
class StateSettings:
    dir: str = "/var/lib/wallbox"
    control_socket: str = "/run/wallbox/control.sock"


@dataclass(frozen=True)
class Settings:
    grid: GridSettings = field(default_factory=GridSettings)
    wallbox: WallboxSettings = field(default_factory=WallboxSettings)
    fronius: FroniusSettings = field(default_factory=FroniusSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    button: ButtonSettings = field(default_factory=ButtonSettings)
    state: StateSettings = field(default_factory=StateSettings)

    @property
    def watts_per_amp(self) -> float:
        return self.grid.phases * self.grid.voltage_v

    @property
    def allowance_only_current_a(self) -> int:
        """The highest current that is safe with no PV at all (0 if that is below the minimum)."""
        return allowance_only_current_a(self.grid.allowance_w, self.grid.phases, self.grid.voltage_v,
                                        self.wallbox.min_current_a, self.wallbox.max_current_a)

    @property
    def failsafe_current_a(self) -> int:
        configured = self.wallbox.failsafe_current_a
        return self.allowance_only_current_a if configured is None else configured

    def describe(self) -> str:
        """The resolved settings as TOML-like lines (password hidden), for check-config and logs."""
        out: list[str] = []
        for section in fields(self):
            out.append(f"[{section.name}]")
            values = getattr(self, section.name)
            for f in fields(values):
                value = getattr(values, f.name)
                if f.name == "ftp_password":
                    shown = '"***"' if value else '""'
                elif f.name == "failsafe_current_a" and value is None:
                    shown = f"{self.failsafe_current_a}   # the allowance-only current"
                elif f.name == "schedule":
                    shown = "[" + ", ".join(f'"{w}"' for w in value) + "]"
                elif isinstance(value, bool):
                    shown = "true" if value else "false"
                elif isinstance(value, str):
                    shown = f'"{value}"'
                elif isinstance(value, tuple):
                    shown = "[" + ", ".join(f'"{v}"' for v in value) + "]"
                else:
                    shown = str(value)
                out.append(f"{f.name} = {shown}")
            out.append("")
        return "\n".join(out).rstrip() + "\n"


def allowance_only_current_a(allowance_w: float, phases: int, voltage_v: float,
                             min_current_a: int, max_current_a: int) -> int:
    amps = math.floor(allowance_w / (phases * voltage_v) + 1e-9)
    amps = min(amps, max_current_a)
    return amps if amps >= min_current_a else 0


# ---------------------------------------------------------------------------------------------
# Validation


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(Problem(key, value, allowed))


def _number(ck: _Checker, key: str, value: Any, lo: float, hi: float, *, integer: bool,
            unit: str = "") -> Any:
    kind = "a whole number" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        ck.add(key, value, f"must be {kind} from {lo:g} to {hi:g}{unit}")
        return _MISSING
    if not lo <= value <= hi:
        ck.add(key, value, f"must be from {lo:g} to {hi:g}{unit}")
        return _MISSING
    return value if integer else float(value)


def _choice(ck: _Checker, key: str, value: Any, choices: tuple) -> Any:
    if value not in choices or isinstance(value, bool):
        ck.add(key, value, "must be one of " + ", ".join(repr(c) for c in choices))
        return _MISSING
    return value


def _string(ck: _Checker, key: str, value: Any, *, required: bool = False, why: str = "") -> Any:
    if not isinstance(value, str):
        ck.add(key, value, "must be a text in quotes")
        return _MISSING
    if required and not value.strip():
        ck.add(key, value, why or "must not be empty")
        return _MISSING
    return value


def _boolean(ck: _Checker, key: str, value: Any) -> Any:
    if not isinstance(value, bool):
        ck.add(key, value, "must be true or false")
        return _MISSING
    return value


def _clock_time(ck: _Checker, key: str, value: Any) -> Any:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hh, mm = (int(x) for x in value.strip().split(":"))
        if hh < 24 and mm < 60:
            return time(hh, mm)
    ck.add(key, value, 'must be a local time "HH:MM" from "00:00" to "23:59"')
    return _MISSING


_SECTIONS = {
    "grid": GridSettings, "wallbox": WallboxSettings, "fronius": FroniusSettings,
    "control": ControlSettings, "display": DisplaySettings, "button": ButtonSettings,
    "state": StateSettings,
}


def _section_values(ck: _Checker, raw: dict, name: str) -> dict:
    section = raw.get(name, {})
    if not isinstance(section, dict):
        ck.add(name, section, f"must be a table: write [{name}] on a line of its own")
        return {}
    known = {f.name for f in fields(_SECTIONS[name])}
    for key in section:
        if key not in known:
            ck.add(f"{name}.{key}", section[key],
                   f"unknown key in [{name}]; known keys: {', '.join(sorted(known))}")
    return section


def parse_settings(raw: dict, source: str = "settings") -> Settings:
    """Validates a parsed TOML document. Raises ConfigError listing every problem."""
    ck = _Checker()
    for key in raw:
        if key not in _SECTIONS:
            ck.add(key, raw[key], f"unknown section; known sections: {', '.join(_SECTIONS)}")

    def get(section: dict, cls: type, key: str) -> Any:
        return section.get(key, getattr(cls(), key)) if key != "schedule" else section.get(key, [])

    # [grid]
    g = _section_values(ck, raw, "grid")
    grid_kw = {
        "allowance_w": _number(ck, "grid.allowance_w", get(g, GridSettings, "allowance_w"), 0, 100_000,
                               integer=True, unit=" W"),
        "phases": _choice(ck, "grid.phases", get(g, GridSettings, "phases"), (1, 3)),
        "voltage_v": _number(ck, "grid.voltage_v", get(g, GridSettings, "voltage_v"), 100, 260,
                             integer=False, unit=" V"),
        "import_limit_w": _number(ck, "grid.import_limit_w", get(g, GridSettings, "import_limit_w"),
                                  0, 200_000, integer=True, unit=" W (0 = off)"),
    }

    # [wallbox]
    w = _section_values(ck, raw, "wallbox")
    wb = {k: get(w, WallboxSettings, k) for k in (f.name for f in fields(WallboxSettings))}
    wallbox_kw = {
        "transport": _choice(ck, "wallbox.transport", wb["transport"], ("rtu", "tcp")),
        "serial_port": _string(ck, "wallbox.serial_port", wb["serial_port"]),
        "baudrate": _choice(ck, "wallbox.baudrate", wb["baudrate"],
                            (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
        "parity": _choice(ck, "wallbox.parity", wb["parity"], ("N", "E", "O")),
        "stopbits": _choice(ck, "wallbox.stopbits", wb["stopbits"], (1, 2)),
        "host": _string(ck, "wallbox.host", wb["host"]),
        "port": _number(ck, "wallbox.port", wb["port"], 1, 65535, integer=True),
        "unit_id": _number(ck, "wallbox.unit_id", wb["unit_id"], 0, 255, integer=True),
        "min_current_a": _number(ck, "wallbox.min_current_a", wb["min_current_a"], 6, 32, integer=True,
                                 unit=" A (the wallbox never gets 1-5 A)"),
        "max_current_a": _number(ck, "wallbox.max_current_a", wb["max_current_a"], 6, 80, integer=True,
                                 unit=" A"),
        "failsafe_timeout_s": _number(ck, "wallbox.failsafe_timeout_s", wb["failsafe_timeout_s"], 6, 120,
                                      integer=True, unit=" s (long timeouts lock the wallbox's "
                                      "Modbus out after a dropped connection)"),
        "failsafe_current_a": None,
    }
    if wallbox_kw["transport"] == "tcp" and wallbox_kw["host"] is not _MISSING and not wb["host"]:
        ck.add("wallbox.host", wb["host"], 'required with transport = "tcp": the wallbox\'s IP address')
    if wallbox_kw["transport"] == "rtu" and wallbox_kw["serial_port"] is not _MISSING and not wb["serial_port"]:
        ck.add("wallbox.serial_port", wb["serial_port"],
               'required with transport = "rtu": the RS-485 converter, e.g. "/dev/ttyUSB0"')
    lo, hi = wallbox_kw["min_current_a"], wallbox_kw["max_current_a"]
    if lo is not _MISSING and hi is not _MISSING and hi < lo:
        ck.add("wallbox.max_current_a", hi, f"must be at least wallbox.min_current_a ({lo} A)")

    # [fronius]
    f = _section_values(ck, raw, "fronius")
    fr = {k: get(f, FroniusSettings, k) for k in (x.name for x in fields(FroniusSettings))}
    fronius_kw = {
        "ftp_host": _string(ck, "fronius.ftp_host", fr["ftp_host"]),
        "ftp_port": _number(ck, "fronius.ftp_port", fr["ftp_port"], 0, 65535, integer=True,
                            unit=" (0 = any free port, for tests)"),
        "ftp_user": _string(ck, "fronius.ftp_user", fr["ftp_user"], required=True,
                            why="must not be empty: the login you enter in the inverter's Push Service"),
        "ftp_password": _string(ck, "fronius.ftp_password", fr["ftp_password"], required=True,
                                why="required: choose a password and enter the same one in the "
                                    "inverter's Push Service (Settings -> Push Service -> FTP)"),
        "allowed_ips": (),
        "stale_after_s": _number(ck, "fronius.stale_after_s", fr["stale_after_s"], 5, 600, integer=False,
                                 unit=" s"),
        "solar_api_url": _string(ck, "fronius.solar_api_url", fr["solar_api_url"]),
        "solar_api_interval_s": _number(ck, "fronius.solar_api_interval_s", fr["solar_api_interval_s"],
                                        4, 3600, integer=False,
                                        unit=" s (the Solar API allows one call every 4 s)"),
    }
    if fronius_kw["ftp_host"] is not _MISSING:
        try:
            ipaddress.ip_address(fr["ftp_host"])
        except ValueError:
            ck.add("fronius.ftp_host", fr["ftp_host"], 'must be an IP address to listen on, e.g. "0.0.0.0"')
    ips = fr["allowed_ips"]
    if not isinstance(ips, (list, tuple)) or not all(isinstance(i, str) for i in ips):
        ck.add("fronius.allowed_ips", ips, 'must be a list of addresses, e.g. ["192.168.178.40"], or []')
    else:
        good = []
        for ip in ips:
            try:
                good.append(str(ipaddress.ip_network(ip, strict=False)) if "/" in ip
                            else str(ipaddress.ip_address(ip)))
            except ValueError:
                ck.add("fronius.allowed_ips", ip, "is not an IP address or network (e.g. 192.168.178.0/24)")
        fronius_kw["allowed_ips"] = tuple(good)
    url = fr["solar_api_url"]
    if isinstance(url, str) and url and not re.match(r"^https?://[^/\s]+", url):
        ck.add("fronius.solar_api_url", url, 'must start with http:// and name the inverter, '
               'e.g. "http://192.168.178.40", or be "" (off)')

    # [control]
    c = _section_values(ck, raw, "control")
    ct = {k: get(c, ControlSettings, k) for k in (x.name for x in fields(ControlSettings))}
    control_kw = {
        "mode": _choice(ck, "control.mode", ct["mode"], MODES),
        "ramp_up_interval_s": _number(ck, "control.ramp_up_interval_s", ct["ramp_up_interval_s"], 0, 3600,
                                      integer=False, unit=" s"),
        "enable_delay_s": _number(ck, "control.enable_delay_s", ct["enable_delay_s"], 0, 3600,
                                  integer=False, unit=" s"),
        "disable_delay_s": _number(ck, "control.disable_delay_s", ct["disable_delay_s"], 0, 7200,
                                   integer=False, unit=" s"),
        "min_restart_interval_s": _number(ck, "control.min_restart_interval_s",
                                          ct["min_restart_interval_s"], 0, 7200, integer=False, unit=" s"),
        "house_base_load_w": _number(ck, "control.house_base_load_w", ct["house_base_load_w"], 0, 20_000,
                                     integer=True, unit=" W"),
        "timezone": _string(ck, "control.timezone", ct["timezone"]),
        "schedule": (),
    }
    if isinstance(ct["timezone"], str) and ct["timezone"]:
        try:
            ZoneInfo(ct["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            ck.add("control.timezone", ct["timezone"],
                   'must be a time zone name such as "Europe/Berlin", or "" for the system\'s')
    windows = []
    sched = ct["schedule"]
    if not isinstance(sched, list):
        ck.add("control.schedule", sched, "write each window as a [[control.schedule]] table")
        sched = []
    for i, win in enumerate(sched):
        key = f"control.schedule[{i}]"
        if not isinstance(win, dict):
            ck.add(key, win, "must be a table with start, end and mode")
            continue
        for extra in set(win) - {"start", "end", "mode"}:
            ck.add(f"{key}.{extra}", win[extra], "unknown key; a window has start, end and mode")
        start = _clock_time(ck, f"{key}.start", win.get("start", _MISSING))
        end = _clock_time(ck, f"{key}.end", win.get("end", _MISSING))
        mode = _choice(ck, f"{key}.mode", win.get("mode", _MISSING), MODES)
        if _MISSING not in (start, end, mode):
            if start == end:
                ck.add(f"{key}.end", win.get("end"), "must differ from start (a window needs a length)")
            else:
                windows.append(ScheduleWindow(start, end, mode))
    control_kw["schedule"] = tuple(windows)

    # [display]
    d = _section_values(ck, raw, "display")
    ds = {k: get(d, DisplaySettings, k) for k in (x.name for x in fields(DisplaySettings))}
    display_kw = {
        "backend": _choice(ck, "display.backend", ds["backend"], DISPLAY_BACKENDS),
        "png_path": _string(ck, "display.png_path", ds["png_path"]),
        "spi_port": _number(ck, "display.spi_port", ds["spi_port"], 0, 1, integer=True),
        "spi_cs": _number(ck, "display.spi_cs", ds["spi_cs"], 0, 1, integer=True),
        "dc_pin": _number(ck, "display.dc_pin", ds["dc_pin"], 0, 27, integer=True),
        "reset_pin": _number(ck, "display.reset_pin", ds["reset_pin"], 0, 27, integer=True),
        "backlight_pin": _number(ck, "display.backlight_pin", ds["backlight_pin"], 0, 27, integer=True),
        "rotation": _choice(ck, "display.rotation", ds["rotation"], (0, 90, 180, 270)),
        "invert": _boolean(ck, "display.invert", ds["invert"]),
        "bgr": _boolean(ck, "display.bgr", ds["bgr"]),
        "offset_left": _number(ck, "display.offset_left", ds["offset_left"], 0, 40, integer=True),
        "offset_top": _number(ck, "display.offset_top", ds["offset_top"], 0, 40, integer=True),
        "spi_speed_hz": _number(ck, "display.spi_speed_hz", ds["spi_speed_hz"], 100_000, 32_000_000,
                                integer=True, unit=" Hz"),
        "backlight_timeout_s": _number(ck, "display.backlight_timeout_s", ds["backlight_timeout_s"], 0,
                                       86400, integer=False, unit=" s (0 = always on)"),
    }
    if display_kw["backend"] == "png" and isinstance(ds["png_path"], str) and not ds["png_path"]:
        ck.add("display.png_path", ds["png_path"], 'required with backend = "png"')

    # [button]
    b = _section_values(ck, raw, "button")
    bt = {k: get(b, ButtonSettings, k) for k in (x.name for x in fields(ButtonSettings))}
    button_kw = {
        "pin": _number(ck, "button.pin", bt["pin"], 0, 27, integer=True, unit=" (BCM number; 0 = no button)"),
        "pause_minutes": _number(ck, "button.pause_minutes", bt["pause_minutes"], 0, 1440, integer=False,
                                 unit=" min (0 = until resumed)"),
        "long_press_s": _number(ck, "button.long_press_s", bt["long_press_s"], 0.5, 10, integer=False,
                                unit=" s"),
    }
    pin = button_kw["pin"]
    if pin is not _MISSING and pin in LCD_PINS and display_kw["backend"] == "st7735":
        ck.add("button.pin", pin, f"BCM{pin} is the {LCD_PINS[pin]}: wire the button to another pin, "
               "e.g. 21 (header pin 40)")

    # [state]
    s = _section_values(ck, raw, "state")
    state_kw = {
        "dir": _string(ck, "state.dir", get(s, StateSettings, "dir"), required=True),
        "control_socket": _string(ck, "state.control_socket", get(s, StateSettings, "control_socket"),
                                  required=True),
    }

    # The failsafe current must be safe with no PV at all (safety rule 5).
    fc = w.get("failsafe_current_a")
    if fc is not None and all(v is not _MISSING for v in grid_kw.values()) and lo is not _MISSING \
            and hi is not _MISSING:
        safe = allowance_only_current_a(grid_kw["allowance_w"], grid_kw["phases"], grid_kw["voltage_v"],
                                        lo, hi)
        checked = _number(ck, "wallbox.failsafe_current_a", fc, 0, 80, integer=True, unit=" A")
        if checked is not _MISSING:
            if checked > safe:
                ck.add("wallbox.failsafe_current_a", fc,
                       f"must be at most {safe} A, the current that grid.allowance_w allows with no PV "
                       "(or leave it out to use that)")
            elif 0 < checked < lo:
                ck.add("wallbox.failsafe_current_a", fc, f"must be 0 or at least {lo} A (never 1-5 A)")
            else:
                wallbox_kw["failsafe_current_a"] = checked

    if ck.problems:
        raise ConfigError(ck.problems, source)
    return Settings(
        grid=GridSettings(**grid_kw), wallbox=WallboxSettings(**wallbox_kw),
        fronius=FroniusSettings(**fronius_kw), control=ControlSettings(**control_kw),
        display=DisplaySettings(**display_kw), button=ButtonSettings(**button_kw),
        state=StateSettings(**state_kw),
    )


def load_settings(path: str | Path) -> Settings:
    """Reads and validates a settings file. Raises ConfigError (with every problem) or OSError."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([Problem("(file)", str(path), f"is not valid TOML: {e}")], str(path)) from None
    return parse_settings(raw, str(path))


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of settings with some values replaced, e.g. with_overrides(s, grid={"allowance_w": 7000})."""
    changed = {}
    for name, values in sections.items():
        current = getattr(settings, name)
        assert is_dataclass(current)
        changed[name] = replace(current, **values)
    return replace(settings, **changed)
