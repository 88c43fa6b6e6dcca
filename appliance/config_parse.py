"""The loop over the declared keys: a settings file in, typed Settings or every problem out.

Whatever the file holds (another encoding, binary data, deep nesting, a megabyte of text), the
result is Settings or a ConfigError whose message names the fix: never a traceback.
"""

from __future__ import annotations

import codecs
import stat
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config import DEFAULT_CONFIG_PATH, SECTIONS, ConfigError, Problem, Settings
from .config_keys import MISSING, Invalid
from .config_rules import check_rules

# A settings file is a few kilobytes of short lines; anything much larger is the wrong file. The
# limits also bound the TOML reader's work: it takes time quadratic in the depth of a dotted key.
MAX_FILE_BYTES = 64 * 1024
MAX_LINE_CHARS = 1000
_SAVE_AS_UTF8 = ("save it as UTF-8 text (in Notepad: File -> Save as -> Encoding: UTF-8; in TextEdit: "
                 "Format -> Make Plain Text, then save as UTF-8)")


def parse(raw: Any, source: str, only: tuple[str, ...] | None) -> Settings:
    names = tuple(SECTIONS) if only is None else tuple(only)
    for name in names:
        if name not in SECTIONS:
            raise ValueError(f"no settings section [{name}]; sections: {', '.join(SECTIONS)}")
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise ConfigError([Problem("(file)", raw, "must be a TOML document of [sections]")], source)
    if only is None:
        for name in raw:
            if name not in SECTIONS:
                problems.append(Problem(name, raw[name], f"unknown section; known sections: "
                                                         f"{', '.join(SECTIONS)}"))
    values = {name: _parse_section(name, raw.get(name, {}), problems) for name in names}
    problems.extend(check_rules(values))
    if problems:
        raise ConfigError(sorted(problems, key=_rank), source)
    return Settings(**{name: SECTIONS[name](**values[name]) for name in names})


def _parse_section(name: str, section: Any, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(section, dict):
        problems.append(Problem(name, section, f"must be a table: write [{name}] on a line of its own"))
        section = {}
    declared = fields(SECTIONS[name])
    known = {f.name for f in declared}
    for k in section:
        if k not in known:
            problems.append(Problem(f"{name}.{k}", section[k],
                                    f"unknown key in [{name}]; known keys: {', '.join(sorted(known))}"))
    out: dict[str, Any] = {}
    for f in declared:
        spec = f.metadata["key"]
        value = section.get(f.name, f.default)
        try:
            out[f.name] = spec.kind.parse(value, spec.suffix)
        except Invalid as e:
            out[f.name] = MISSING
            parts = e.problems if e.problems is not None else [("", value, str(e))]
            problems.extend(Problem(f"{name}.{f.name}{sub}", part, allowed) for sub, part, allowed in parts)
    return out


def _key_order() -> dict[str, int]:
    order: dict[str, int] = {}
    for name, cls in SECTIONS.items():
        order[name] = len(order)
        for f in fields(cls):
            order[f"{name}.{f.name}"] = len(order)
    return order


_ORDER = _key_order()


def _rank(problem: Problem) -> int:
    """Problems in the order of the table (and so of the example file); an unknown key first in its
    section, a file problem first of all."""
    head = problem.key.split("[")[0]
    return _ORDER.get(head, _ORDER.get(head.split(".")[0], -1))


# ---------------------------------------------------------------------------------------------
# Reading the file


def _file_problem(path: Path, allowed: str) -> ConfigError:
    return ConfigError([Problem("(file)", str(path), allowed)], str(path))


def read_document(path: Path) -> dict:
    """The TOML document in `path`. ConfigError for any content; FileNotFoundError if absent."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _file_problem(path, f"is a directory: give the settings file itself, e.g. "
                                      f"{path / 'wallbox.toml'}")
        if not stat.S_ISREG(info.st_mode):
            raise _file_problem(path, f"is not a plain file (a device or a pipe): give the settings file, "
                                      f"e.g. {DEFAULT_CONFIG_PATH}")
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise _file_problem(path, "cannot be read by this user (permission denied; it holds passwords): "
                                  "run the command with sudo") from None
    if len(data) > MAX_FILE_BYTES:
        raise _file_problem(path, f"is larger than {MAX_FILE_BYTES // 1024} KB, but a settings file is a "
                                  "few KB of text: is it the right file? Start from the example file")
    text = _decode(path, data)
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE_CHARS:
            raise _file_problem(path, f"line {number} is {len(line)} characters long, but settings lines are "
                                      f"short (at most {MAX_LINE_CHARS}): is it the right file? Start from "
                                      "the example file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _file_problem(path, f"is not valid TOML: {e}") from None
    except RecursionError:
        raise _file_problem(path, "nests lists or tables too deeply for a settings file: start from the "
                                  "example file") from None


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _file_problem(path, f"is saved as UTF-16 or UTF-32 text: {_SAVE_AS_UTF8}")
    # Windows editors often start UTF-8 files with a byte-order mark: harmless, so it is accepted.
    data = data.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise _file_problem(path, f"holds binary data (a NUL byte on line {line}), "
                                  f"not settings text: is it the right file? If it was saved as UTF-16, "
                                  f"{_SAVE_AS_UTF8}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _file_problem(path, f"is not UTF-8 text (byte 0x{data[e.start]:02X} on line {line}, e.g. an "
                                  f"umlaut saved as Latin-1): {_SAVE_AS_UTF8}") from None


# ---------------------------------------------------------------------------------------------
# Printing the resolved settings


def describe(settings: Settings) -> str:
    """The resolved settings as TOML lines (passwords hidden), each with its unit and help as a
    comment: the output is itself a valid settings file."""
    out: list[str] = []
    for name in SECTIONS:
        out.append(f"[{name}]")
        values = getattr(settings, name)
        for f in fields(values):
            spec = f.metadata["key"]
            line = f"{f.name} = {_toml_value(getattr(values, f.name), spec.secret)}"
            remark = ", ".join(x for x in (spec.unit, spec.help) if x)
            if f.name == "failsafe_current_a" and getattr(values, f.name) is None:
                line = f"{f.name} = {settings.failsafe_current_a}"
                remark = "A, the allowance-only current"
            out.append(f"{line}   # {remark}" if remark else line)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _toml_value(value: Any, secret: bool) -> str:
    if secret:
        return '"***"' if value else '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(str(v), False) for v in value) + "]"
    return str(value)
