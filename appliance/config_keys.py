"""The kinds of settings values: how each is checked and what the user is told when it is wrong.

A settings key is a dataclass field made with `key(default, kind, unit, note, help)`: the default,
the allowed values (the kind), the unit, and the help text live in one place, and the parser, the
`check-config` output and the tests all read them from there.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .policy.types import MODES  # noqa: F401  (one definition of the modes)

BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# Linux limits the path of a Unix socket to 107 bytes (sun_path holds 108 with the final NUL).
UNIX_SOCKET_PATH_MAX = 107


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING = _Missing()


class Invalid(Exception):
    """A value is not allowed. `problems`, when several parts of one value are wrong, lists
    (key suffix, the part, what is allowed) triples; None means the message is about the value."""

    def __init__(self, allowed: str, problems: list[tuple[str, Any, str]] | None = None):
        super().__init__(allowed)
        self.problems = problems


class Kind:
    """What values a key takes. `parse` returns the typed value or raises Invalid.

    A kind is a frozen value like a frozen dataclass: its fields are the annotated names of its
    class (and of the classes it extends), set by position or keyword, with the class attribute as
    the default; equal, hashed and shown by them. Not a dataclass: `dataclass()` writes and compiles
    six methods for each class when the module is imported, which for the 15 kinds was 6-7 ms of
    the CPU on the way to the first setpoint (x25 on the Pi Zero W); here one set serves them all.
    """

    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(name for name in cls.__dict__.get("__annotations__", {}) if name not in cls._fields)
        cls._fields = cls._fields + own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes at most {len(self._fields)} values")
        values = dict(zip(self._fields, args))
        for name, value in kwargs.items():
            if name not in self._fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name in self._fields:
            if name not in values and not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} needs a value for {name!r}")
            object.__setattr__(self, name, values.get(name, getattr(type(self), name, None)))

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def parse(self, value: Any, suffix: str) -> Any:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class Key:
    """One settings key: its kind, unit and help. The default is the dataclass field's default."""

    kind: Kind
    unit: str = ""
    note: str = ""      # a short remark shown after the range in messages, e.g. "0 = off"
    help: str = ""      # one sentence for check-config and the example file
    secret: bool = False

    @property
    def suffix(self) -> str:
        """What follows a range in a message: ' W (0 = off)'."""
        return (f" {self.unit}" if self.unit else "") + (f" ({self.note})" if self.note else "")


def key(default: Any, kind: Kind, unit: str = "", note: str = "", help: str = "", *,
        secret: bool = False) -> Any:
    """A dataclass field that is also a settings key."""
    return field(default=default, metadata={"key": Key(kind, unit, note, help, secret)})


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a text in quotes")
    if "\x00" in value:
        raise Invalid("contains a NUL character (\\x00), which no file name, address or password may "
                      "hold: retype the value")
    return value


class Int(Kind):
    lo: int
    hi: int

    def parse(self, value: Any, suffix: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number from {self.lo:g} to {self.hi:g}{suffix}")
        if not self.lo <= value <= self.hi:
            raise Invalid(f"must be from {self.lo:g} to {self.hi:g}{suffix}")
        return value


class Num(Kind):
    lo: float
    hi: float

    def parse(self, value: Any, suffix: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Invalid(f"must be a number from {self.lo:g} to {self.hi:g}{suffix}")
        if not self.lo <= value <= self.hi:
            raise Invalid(f"must be from {self.lo:g} to {self.hi:g}{suffix}")
        return float(value)


class OptionalInt(Int):
    """A whole number that may be left out (None: a value resolved from other keys)."""

    def parse(self, value: Any, suffix: str) -> int | None:
        return None if value is None else super().parse(value, suffix)


class Choice(Kind):
    values: tuple

    def parse(self, value: Any, suffix: str) -> Any:
        if isinstance(value, bool) or isinstance(value, (list, dict)) or value not in self.values:
            raise Invalid("must be one of " + ", ".join(repr(c) for c in self.values) + suffix)
        return value


class Bool(Kind):
    def parse(self, value: Any, suffix: str) -> bool:
        if not isinstance(value, bool):
            raise Invalid("must be true or false")
        return value


class Text(Kind):
    """Free text. `refused` maps values that look fine but cannot work to the reason."""

    required: str = ""            # the message when empty; "" = may be empty
    refused: tuple[tuple[str, str], ...] = ()
    max_chars: int = 200

    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if self.required and not value.strip():
            raise Invalid(self.required)
        if len(value) > self.max_chars:
            raise Invalid(f"must be at most {self.max_chars} characters long")
        for bad, why in self.refused:
            if value.strip().lower() == bad:
                raise Invalid(why)
        return value


class FilePath(Kind):
    """A path on the appliance: absolute, no NUL; `max_bytes` for Unix sockets."""

    example: str
    required: str = ""            # the message when empty; "" = may be empty
    max_bytes: int = 4095

    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if not value:
            if self.required:
                raise Invalid(self.required)
            return value
        if not value.startswith("/"):
            raise Invalid(f'must be a full path starting with /, e.g. "{self.example}"')
        if len(value.encode()) > self.max_bytes:
            raise Invalid(f"is {len(value.encode())} bytes long; the system allows at most "
                          f"{self.max_bytes} here: choose a shorter path, e.g. \"{self.example}\"")
        return value


class IpAddress(Kind):
    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise Invalid('must be an IP address to listen on, e.g. "0.0.0.0"') from None
        return value


_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?")


def _is_host(value: str) -> bool:
    if ":" not in value:
        return bool(_HOST_NAME.fullmatch(value))
    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


class Host(Kind):
    """A host name or IP address to connect to; "" = not set."""

    example: str = "192.168.178.40"

    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if value and not _is_host(value):
            raise Invalid(f'must be a host name or IP address alone, e.g. "{self.example}" '
                          "(no http://, no port, no spaces)")
        return value


class IpList(Kind):
    def parse(self, value: Any, suffix: str) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
            raise Invalid('must be a list of addresses, e.g. ["192.168.178.40"], or []')
        good, bad = [], []
        for ip in value:
            try:
                good.append(str(ipaddress.ip_network(ip, strict=False)) if "/" in ip
                            else str(ipaddress.ip_address(ip)))
            except ValueError:
                bad.append(("", ip, "is not an IP address or network (e.g. 192.168.178.0/24)"))
        if bad:
            raise Invalid(bad[0][2], bad)
        return tuple(good)


class Url(Kind):
    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise Invalid('must start with http:// and name the inverter, e.g. "http://192.168.178.40", '
                          'or be "" (off)')
        return value


class TimeZone(Kind):
    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise Invalid('must be a time zone name such as "Europe/Berlin", or "" for the '
                              "system's") from None
        return value


class PortRange(Kind):
    """FTP passive ports: "" (any free port) or "LO-HI" above 1023."""

    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value).strip()
        if not value:
            return value
        m = re.fullmatch(r"(\d{1,5})(?:\s*-\s*(\d{1,5}))?", value)
        low, high = (int(m[1]), int(m[2] or m[1])) if m else (0, 0)
        if not 1024 <= low <= high <= 65535:
            raise Invalid('must be a range of ports such as "60000-60010" (from 1024 to 65535, '
                          'low-high), or "" for any free port')
        return f"{low}-{high}"


class Topic(Kind):
    """An MQTT topic prefix: no wildcards, no empty levels."""

    example: str

    def parse(self, value: Any, suffix: str) -> str:
        value = _text(value)
        if not value or "+" in value or "#" in value or "//" in value or value.startswith("/") \
                or value.endswith("/") or len(value.encode()) > 200:
            raise Invalid(f'must be a topic prefix such as "{self.example}": not empty, no + or #, '
                          "no / at either end")
        return value


def clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hh, mm = (int(x) for x in value.strip().split(":"))
        if hh < 24 and mm < 60:
            return time(hh, mm)
    raise Invalid('must be a local time "HH:MM" from "00:00" to "23:59"')


@dataclass(frozen=True)
class ScheduleWindow:
    """One [[control.schedule]] window: from start to end (local time) in this mode."""

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


class Schedule(Kind):
    """[[control.schedule]] windows: start, end and mode each."""

    def parse(self, value: Any, suffix: str) -> tuple[ScheduleWindow, ...]:
        if not isinstance(value, (list, tuple)):
            raise Invalid("write each window as a [[control.schedule]] table")
        windows, problems = [], []
        for i, win in enumerate(value):
            if isinstance(win, ScheduleWindow):
                windows.append(win)
                continue
            if not isinstance(win, dict):
                problems.append((f"[{i}]", win, "must be a table with start, end and mode"))
                continue
            for extra in sorted(set(win) - {"start", "end", "mode"}):
                problems.append((f"[{i}].{extra}", win[extra], "unknown key; a window has start, end and mode"))
            parts = {}
            for name, parse in (("start", clock_time), ("end", clock_time),
                                ("mode", lambda v: Choice(MODES).parse(v, ""))):
                try:
                    parts[name] = parse(win.get(name, MISSING))
                except Invalid as e:
                    problems.append((f"[{i}].{name}", win.get(name, MISSING), str(e)))
            if len(parts) == 3:
                if parts["start"] == parts["end"]:
                    problems.append((f"[{i}].end", win.get("end"), "must differ from start (a window needs a length)"))
                else:
                    windows.append(ScheduleWindow(**parts))
        if problems:
            raise Invalid(problems[0][2], problems)
        return tuple(windows)
