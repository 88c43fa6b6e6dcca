"""Size, nesting and digit limits for JSON that arrives from outside, checked before parsing.

Python's json module recurses once per nesting level (a 30,000-deep document raises
RecursionError) and refuses integers of more than 4,300 digits with a ValueError; a megabyte of
JSON costs the Pi Zero seconds and memory. Every JSON input of the appliance (inverter pushes,
Solar API answers, control-socket requests, MQTT commands, web forms) is therefore checked here
first, and a document that breaks a limit gets a sentence saying which limit, never a traceback.

`RejectCounter` keeps a count per reason so the status can say how much was refused.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class JsonLimits:
    max_bytes: int = 256 * 1024
    max_depth: int = 32
    max_digits: int = 40  # a number literal longer than this is no measurement


PUSH_LIMITS = JsonLimits(max_bytes=512 * 1024, max_depth=32, max_digits=40)
REQUEST_LIMITS = JsonLimits(max_bytes=64 * 1024, max_depth=8, max_digits=40)

_NUMBER_CHARS = frozenset(b"0123456789+-.eE")


def json_problem(data: bytes | str, limits: JsonLimits = JsonLimits()) -> str:
    """Why this JSON text breaks a limit ("" when it keeps all of them). Does not parse it.

    One pass over the bytes: brackets outside strings count the depth, runs of number characters
    outside strings count the digits.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > limits.max_bytes:
        return f"{len(raw):,} bytes, more than the {limits.max_bytes:,} allowed"
    depth = run = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
            continue
        if byte in _NUMBER_CHARS:
            run += 1
            if run > limits.max_digits:
                return f"a number longer than {limits.max_digits} characters"
            continue
        run = 0
        if byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limits.max_depth:
                return f"nested too deeply (more than {limits.max_depth} levels)"
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return ""


def loads_limited(data: bytes | str, limits: JsonLimits = JsonLimits()):
    """json.loads after the limits; raises ValueError with the reason (never RecursionError)."""
    problem = json_problem(data, limits)
    if problem:
        raise ValueError(problem)
    try:
        return json.loads(data)
    except RecursionError:  # the depth check makes this unreachable; kept as the last guard
        raise ValueError("nested too deeply") from None


class RejectCounter:
    """How many inputs were refused, per reason kind (thread-safe; small fixed set of keys)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, kind: str) -> int:
        with self._lock:
            self._counts[kind] += 1
            return self._counts[kind]

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def reason_kind(problem: str) -> str:
    """A short key for counting: "size", "depth", "digits" or "other"."""
    if "bytes" in problem:
        return "size"
    if "nested" in problem:
        return "depth"
    if "number" in problem:
        return "digits"
    return "other"
