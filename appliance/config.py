"""The settings file (TOML) turned into validated, typed settings.

Every key is declared once, below, as a dataclass field: its default, its allowed values, its unit
and a line of help. The parser is a loop over these declarations (config_parse.py), the rules that
tie keys together are in config_rules.py, and `check-config` prints from the same table.

Every problem in a file is collected, not just the first: the user gets one line per problem with
the key, the value and what is allowed, so one edit fixes them all. Unknown keys are problems too
(a typo such as `alowance_w` must not silently leave the default in force).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from .config_keys import (BAUDRATES, MISSING, MODES, UNIX_SOCKET_PATH_MAX, Bool, Choice, FilePath, Host,
                          Int, IpAddress, IpList, Num, OptionalInt, PortRange, Schedule, ScheduleWindow,
                          Text, TimeZone, Topic, Url, key)

__all__ = ["ConfigError", "Problem", "Settings", "ScheduleWindow", "DisplaySettings", "StateSettings",
           "EXAMPLE_PATH", "DEFAULT_CONFIG_PATH", "default_config_path", "parse_settings", "load_settings",
           "with_overrides", "allowance_only_current_a", "MODES", "SECTIONS"]

DISPLAY_BACKENDS = ("st7735", "png", "none")
DIP_LIMITS_A = (16, 20, 25, 32, 40, 63, 80)
# The LCD's pins (BCM): the button must not share them (hardware.md).
LCD_PINS = {7: "SPI chip select CE1", 8: "SPI chip select CE0", 9: "SPI MISO", 10: "SPI MOSI",
            11: "SPI clock", 25: "LCD data/command", 27: "LCD reset", 18: "LCD backlight"}
EXAMPLE_PATH = Path(__file__).with_name("wallbox.example.toml")
# One place for the settings: the file on the SD card's boot partition, which the user edits from any
# computer before the first boot; the systemd unit, the image, the README and `--help` all name it.
DEFAULT_CONFIG_PATH = "/boot/firmware/wallbox.toml"


def default_config_path() -> str:
    """The settings file the commands read when no --config is given."""
    return DEFAULT_CONFIG_PATH


# Every dataclass here has a docstring: for one without, dataclass() formats an inspect.signature()
# as its docstring at import, on the way to the first setpoint.
@dataclass(frozen=True)
class Problem:
    """One thing wrong in a settings file: the key, the value found and what is allowed."""

    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.key} = {_shown(self.value)}: {self.allowed}"


def _shown(value: Any, limit: int = 80) -> str:
    """The value as the user wrote it, cut short: a problem line must stay one readable line."""
    if value is MISSING:
        return "(missing)"
    try:
        text = repr(value)
    except RecursionError:
        text = "(a deeply nested value)"
    return text if len(text) <= limit else text[:limit - 5] + " ...)"


class ConfigError(Exception):
    """The settings file cannot be used; `problems` says why, one entry per problem."""

    def __init__(self, problems: list[Problem], source: str = "settings"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


# ---------------------------------------------------------------------------------------------
# The table: every key with its default, allowed values, unit and help.

_PUSH_SERVICE = "the inverter's Push Service (Settings -> Push Service -> FTP)"


@dataclass(frozen=True)
class GridSettings:
    """[grid]: what the grid operator allows and the house's grid connection."""

    allowance_w: int = key(11000, Int(0, 100_000), "W", help="what the grid operator allows the wallbox "
                           "to draw from the grid")
    phases: int = key(3, Choice((1, 3)), help="3 for a three-phase connection, 1 for single-phase")
    voltage_v: float = key(230.0, Num(100, 260), "V", help="the mains voltage per phase")
    import_limit_w: int = key(0, Int(0, 200_000), "W", "0 = off", help="limit on the whole house's grid "
                              "import (needs a Fronius grid meter)")


@dataclass(frozen=True)
class WallboxSettings:
    """[wallbox]: which EVC04 and how the appliance reaches it."""

    kind: str = key("ems", Choice(("ems", "meter")), help="ems = an EVC04 with the network module (EMS "
                    "registers); meter = a basic EVC04 driven as its energy meter; `wallbox probe` tells which")
    transport: str = key("rtu", Choice(("rtu", "tcp")), help="rtu = RS-485 through the USB converter, "
                         "tcp = over the network (kind ems only)")
    serial_port: str = key("/dev/ttyUSB0", FilePath("/dev/ttyUSB0"), help="the RS-485 converter")
    baudrate: int = key(9600, Choice(BAUDRATES), help="the RS-485 speed")
    parity: str = key("E", Choice(("N", "E", "O")), help="the wallbox uses E (8E1)")
    stopbits: int = key(1, Choice((1, 2)))
    host: str = key("", Host("192.168.178.50"), help="tcp only: the wallbox's IP address")
    port: int = key(502, Int(1, 65535), help="tcp only: the wallbox's Modbus TCP port")
    unit_id: int = key(255, Int(0, 255), help="the wallbox's Modbus unit id")
    min_current_a: int = key(6, Int(6, 32), "A", "the wallbox never gets 1-5 A",
                             help="the lowest charging current")
    max_current_a: int = key(32, Int(6, 80), "A", help="the highest charging current")
    failsafe_timeout_s: int = key(20, Int(6, 120), "s", "long timeouts lock the wallbox's Modbus out after "
                                  "a dropped connection", help="without a heartbeat for this long the "
                                  "wallbox falls back to the failsafe current")
    # None in the file means "the allowance-only current"; resolved in Settings.
    failsafe_current_a: int | None = key(None, OptionalInt(0, 80), "A", help="default: the current the "
                                         "allowance allows with no PV; more is an error")
    dip_limit_a: int = key(16, Choice(DIP_LIMITS_A), "A", "DIP switches 4-5-6 inside the wallbox",
                           help="kind meter: the current limit set with the DIP switches")
    log_port: str = key("/dev/ttyAMA0", FilePath("/dev/ttyAMA0"), help="kind meter: the serial port "
                        "wired to the wallbox's LOG header")
    log_baudrate: int = key(9600, Choice(BAUDRATES), help="kind meter: the LOG header's speed")
    phase_switching: bool = key(False, Bool(), help="switch between 1 and 3 phases with the PV surplus")
    phase_switch_pause_s: int = key(120, Int(30, 3600), "s", help="the charging pause around a phase "
                                    "switch")
    max_phase_switches_per_day: int = key(4, Int(1, 48), help="at most this many phase switches a day")
    one_phase_below_w: int = key(3700, Int(1000, 30_000), "W", help="switch to 1 phase when the available "
                                 "power stays below this")
    three_phase_above_w: int = key(4500, Int(1000, 60_000), "W", help="switch to 3 phases when the "
                                   "available power stays above this")


@dataclass(frozen=True)
class FroniusSettings:
    """[fronius]: where the inverter's data comes from."""

    source: str = key("push", Choice(("push", "solar_api", "sunspec")), help="push = the inverter pushes "
                      "by FTP; solar_api = poll the Solar API; sunspec = read Modbus TCP SunSpec")
    ftp_host: str = key("0.0.0.0", IpAddress(), help="the address to listen on; 0.0.0.0 = every interface")
    ftp_port: int = key(21, Int(0, 65535), note="0 = any free port, for tests", help="the FTP port the "
                        "inverter pushes to")
    ftp_user: str = key("fronius", Text(
        required="must not be empty: the login you enter in the inverter's Push Service",
        refused=tuple((name, f"is the FTP server's anonymous login, which takes no password: choose "
                       f'another user name, e.g. "fronius", and enter it in {_PUSH_SERVICE}')
                      for name in ("anonymous", "ftp"))), help="the login the inverter uses")
    ftp_password: str = key("", Text(), help="source push: required; enter the same in the inverter",
                            secret=True)
    allowed_ips: tuple[str, ...] = key((), IpList(), help="accept pushes only from these; [] = any")
    passive_ports: str = key("", PortRange(), help='FTP passive ports, e.g. "60000-60010"; "" = any')
    stale_after_s: float = key(60.0, Num(5, 600), "s", help="inverter data older than this counts as "
                               "missing")
    solar_api_url: str = key("", Url(), help="the inverter's Solar API, e.g. http://192.168.178.40; with "
                             "source push a fallback when no pushes arrive")
    solar_api_interval_s: float = key(2.0, Num(1, 3600), "s", "1 s floor; Fronius documents 4 s between calls",
                                      help="seconds between two Solar API or SunSpec polls")
    sunspec_host: str = key("", Host("192.168.178.40"), help="source sunspec: the inverter's address")
    sunspec_port: int = key(502, Int(1, 65535), help="source sunspec: Modbus TCP port")
    sunspec_inverter_unit: int = key(1, Int(1, 255), help="source sunspec: the inverter's unit id")
    sunspec_meter_unit: int = key(200, Int(1, 255), help="source sunspec: the grid meter's unit id")


@dataclass(frozen=True)
class BatterySettings:
    """[battery]: the home battery's share of the PV."""

    priority_soc_pct: int = key(50, Int(0, 100), "%", help="below this charge the home battery comes "
                                "before the car")
    car_may_discharge: bool = key(False, Bool(), help="whether the car may draw from the home battery")


@dataclass(frozen=True)
class DimmingSettings:
    """[dimming]: the grid operator's control input."""

    pin: int = key(0, Int(0, 27), note="BCM number; 0 = off", help="the grid operator's control input")
    active_level: str = key("low", Choice(("low", "high")), help="the level that means dimmed")
    dimmed_allowance_w: int = key(4200, Int(0, 100_000), "W", help="the allowance while dimmed")


@dataclass(frozen=True)
class ControlSettings:
    """[control]: the charging mode, the ramp and the schedule."""

    mode: str = key("fast", Choice(MODES), help="fast | pv | minpv | off")
    ramp_up_interval_s: float = key(30.0, Num(0, 3600), "s", help="at most one raise per interval")
    enable_delay_s: float = key(60.0, Num(0, 3600), "s", help="kept for older files: pv mode starts by the PV-surplus control (30 s of surplus, at once at plug-in)")
    disable_delay_s: float = key(300.0, Num(0, 7200), "s", help="kept for older files: pv mode stops by the energy a shortfall costs")
    min_restart_interval_s: float = key(600.0, Num(0, 7200), "s", help="kept for older files: pv mode restarts after 15 min at the earliest")
    house_base_load_w: int = key(300, Int(0, 20_000), "W", help="pv without a grid meter: the house's use")
    timezone: str = key("", TimeZone(), help='"" = the appliance\'s time zone')
    schedule: tuple[ScheduleWindow, ...] = key((), Schedule(), help="[[control.schedule]] windows")


@dataclass(frozen=True)
class DisplaySettings:
    """[display]: the LCD (or a PNG file) and its wiring."""

    backend: str = key("st7735", Choice(DISPLAY_BACKENDS), help="st7735 (the LCD) | png | none")
    png_path: str = key("/run/wallbox/screen.png", FilePath("/run/wallbox/screen.png"),
                        help="backend png: the picture file")
    spi_port: int = key(0, Int(0, 1))
    spi_cs: int = key(0, Int(0, 1))
    dc_pin: int = key(25, Int(0, 27))
    reset_pin: int = key(27, Int(0, 27))
    backlight_pin: int = key(18, Int(0, 27))
    rotation: int = key(90, Choice((0, 90, 180, 270)))
    invert: bool = key(True, Bool(), help="flip if the colours look like a photo negative")
    bgr: bool = key(True, Bool(), help="flip if red and blue are swapped")
    offset_left: int = key(2, Int(0, 40))
    offset_top: int = key(1, Int(0, 40))
    spi_speed_hz: int = key(4_000_000, Int(100_000, 32_000_000), "Hz")
    backlight_timeout_s: float = key(0.0, Num(0, 86400), "s", "0 = always on")


@dataclass(frozen=True)
class ButtonSettings:
    """[button]: the front push button."""

    pin: int = key(21, Int(0, 27), note="BCM number; 0 = no button", help="the push button")
    pause_minutes: float = key(10.0, Num(0, 1440), "min", "0 = until resumed", help="a short press pauses")
    long_press_s: float = key(2.0, Num(0.5, 10), "s")


@dataclass(frozen=True)
class StateSettings:
    """[state]: where the appliance keeps its state and control socket."""

    dir: str = key("/var/lib/wallbox", FilePath("/var/lib/wallbox", required="must not be empty"),
                   help="mode, pause and the charging-session log")
    control_socket: str = key("/run/wallbox/control.sock", FilePath(
        "/run/wallbox/control.sock", required="must not be empty", max_bytes=UNIX_SOCKET_PATH_MAX),
        help="where `wallbox status` reaches the service")


@dataclass(frozen=True)
class WebSettings:
    """[web]: the status page on the LAN."""

    enabled: bool = key(True, Bool(), help="the web page on the LAN")
    host: str = key("0.0.0.0", IpAddress(), help="the address to listen on")
    port: int = key(8080, Int(1, 65535), help="the web page's port")
    password: str = key("", Text(), help='needed to change anything; "" = read-only page',
                        secret=True)


@dataclass(frozen=True)
class MqttSettings:
    """[mqtt]: the broker the appliance reports to."""

    host: str = key("", Host("192.168.178.10"), help='the MQTT broker; "" = MQTT off')
    port: int = key(1883, Int(1, 65535), help="1883, or 8883 with tls")
    username: str = key("", Text())
    password: str = key("", Text(), secret=True)
    tls: bool = key(False, Bool())
    topic_prefix: str = key("wallbox", Topic("wallbox"), help="state under wallbox/..., commands under "
                            "wallbox/.../set")
    discovery_prefix: str = key("homeassistant", Topic("homeassistant"), help="Home Assistant discovery")
    client_id: str = key("wallbox", Text(required="must not be empty: a name the broker knows this "
                                                  'appliance by, e.g. "wallbox"', max_chars=64))


@dataclass(frozen=True)
class Settings:
    """All of wallbox.toml, one frozen dataclass per section."""

    grid: GridSettings = field(default_factory=GridSettings)
    wallbox: WallboxSettings = field(default_factory=WallboxSettings)
    fronius: FroniusSettings = field(default_factory=FroniusSettings)
    battery: BatterySettings = field(default_factory=BatterySettings)
    dimming: DimmingSettings = field(default_factory=DimmingSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    button: ButtonSettings = field(default_factory=ButtonSettings)
    state: StateSettings = field(default_factory=StateSettings)
    web: WebSettings = field(default_factory=WebSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)

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
        """The resolved settings as TOML lines (passwords hidden), for check-config and logs."""
        from .config_parse import describe

        return describe(self)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(Settings)}  # type: ignore[misc]


def allowance_only_current_a(allowance_w: float, phases: int, voltage_v: float,
                             min_current_a: int, max_current_a: int) -> int:
    amps = math.floor(allowance_w / (phases * voltage_v) + 1e-9)
    amps = min(amps, max_current_a)
    return amps if amps >= min_current_a else 0


def parse_settings(raw: dict, source: str = "settings", only: tuple[str, ...] | None = None) -> Settings:
    """Validates a parsed TOML document. Raises ConfigError listing every problem.

    `only` names the sections a command needs (e.g. ("wallbox",) for probe): the others are neither
    read nor checked and keep their defaults.
    """
    from .config_parse import parse

    return parse(raw, source, only)


def load_settings(path: str | Path, only: tuple[str, ...] | None = None) -> Settings:
    """Reads and validates a settings file.

    Raises ConfigError for anything wrong with the file or its content (never anything else for any
    file content whatever), FileNotFoundError when there is no such file, other OSError when it
    cannot be read.
    """
    from .config_parse import read_document

    return parse_settings(read_document(Path(path)), str(path), only)


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of settings with some values replaced, e.g. with_overrides(s, grid={"allowance_w": 7000})."""
    changed = {}
    for name, values in sections.items():
        current = getattr(settings, name)
        assert is_dataclass(current)
        changed[name] = replace(current, **values)
    return replace(settings, **changed)
