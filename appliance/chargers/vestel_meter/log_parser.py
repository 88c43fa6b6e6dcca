"""The CN28 "LOG" console of a basic Vestel EVC04: reassemble lines, parse them, fold a snapshot.

Pure code (no I/O, no clock of its own). The box writes a burst of text lines after any byte is
written to it; a burst may begin or end mid-line, even mid-token, so a line counts only when it was
seen from its start: the driver calls `start_burst()` before it opens a burst, which drops the
unfinished rest of the last one and the first (possibly cut) line of the new one. Lines this module
does not know, fragments and garbage are ignored, never fatal.

Facts from andicoder/evc04 docs/cn28-log-protocol.md (reverse-engineered on a basic EVC04):
`P1:\tV: 234102\tA: 36\tW: 1\tWh: 0` (mV, mA, W, Wh), `ev current: 16`, `max_offered_current: 16`,
`lb current:16` (the grant; no space after the colon), `S:C2 Auth:1 D:281 Cmax:16 Ph:3 Relay:7`,
`ERROR: 22`, `CLEAR: 22`, `Temp: 32 C `.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

MAX_LINE_CHARS = 200  # a real line is under 60 characters; longer means we lost a line end


@dataclass(frozen=True)
class PhaseLine:
    phase: int            # 1..3
    voltage_mv: int
    current_ma: int
    power_w: int
    energy_wh: int


@dataclass(frozen=True)
class ControlLine:
    """`S:C2 Auth:1 D:281 Cmax:16 Ph:3 Relay:7`: the control-pilot state and what is offered."""

    cp_state: str          # "A1", "B1", "C2", "F1" ...
    authorised: bool
    duty: int
    offered_a: int         # Cmax
    phases: int
    relay: int


@dataclass(frozen=True)
class ValueLine:
    key: str               # "ev_current_a", "max_offered_a", "grant_a", "temperature_c", "error", "clear"
    value: int


LogRecord = PhaseLine | ControlLine | ValueLine

_PHASE = re.compile(r"^P([123]):\tV: (\d+)\tA: (\d+)\tW: (-?\d+)\tWh: (\d+)$")
_CONTROL = re.compile(r"^S:([A-F])(\d) Auth:([01]) D:(\d+) Cmax:(\d+) Ph:(\d) Relay:(\d+)$")
_VALUES = (
    (re.compile(r"^ev current: (\d+)$"), "ev_current_a"),
    (re.compile(r"^max_offered_current: (\d+)$"), "max_offered_a"),
    (re.compile(r"^lb current:(\d+)$"), "grant_a"),   # not "TEMP lb current: 10": anchored at the start
    (re.compile(r"^Temp: (-?\d+) C ?$"), "temperature_c"),
    (re.compile(r"^ERROR: (\d+)$"), "error"),
    (re.compile(r"^CLEAR: (\d+)$"), "clear"),
)


def parse_line(line: str) -> LogRecord | None:
    """One whole line (without its line end) -> a record, or None for anything not known."""
    line = line.rstrip("\r")
    if len(line) > MAX_LINE_CHARS:
        return None
    m = _PHASE.match(line)
    if m:
        return PhaseLine(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]))
    m = _CONTROL.match(line)
    if m:
        return ControlLine(f"{m[1]}{m[2]}", m[3] == "1", int(m[4]), int(m[5]), int(m[6]), int(m[7]))
    for pattern, key in _VALUES:
        m = pattern.match(line)
        if m:
            return ValueLine(key, int(m[1]))
    return None


class LineAssembler:
    """Joins the bytes of one burst into whole lines; see the module text for burst boundaries."""

    def __init__(self):
        self._pending = ""
        self._first_line_of_burst = True

    def start_burst(self) -> None:
        self._pending = ""
        self._first_line_of_burst = True

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + data.decode("ascii", errors="replace")
        *lines, self._pending = text.split("\n")
        if len(self._pending) > MAX_LINE_CHARS:
            self._pending = ""
        if lines and self._first_line_of_burst:
            lines = lines[1:]   # may be the tail of a line the box had begun before our byte
            self._first_line_of_burst = False
        return lines


@dataclass(frozen=True)
class BoxLog:
    """What the LOG has told so far; None = not seen yet."""

    phases: tuple[PhaseLine | None, PhaseLine | None, PhaseLine | None] = (None, None, None)
    control: ControlLine | None = None
    grant_a: int | None = None
    ev_current_a: int | None = None
    max_offered_a: int | None = None
    temperature_c: int | None = None
    errors: frozenset[int] = frozenset()

    @property
    def car_draw_a(self) -> float:
        """The largest phase current the box's own meter measures (0 when not known)."""
        known = [p.current_ma / 1000.0 for p in self.phases if p is not None]
        return max(known, default=0.0)


def fold(log: BoxLog, record: LogRecord) -> BoxLog:
    """The snapshot after one more record."""
    if isinstance(record, PhaseLine):
        phases = list(log.phases)
        phases[record.phase - 1] = record
        return dataclasses.replace(log, phases=tuple(phases))
    if isinstance(record, ControlLine):
        log = dataclasses.replace(log, control=record)
        # Back at A or B with nothing offered: the session is over and the old grant means nothing.
        if record.cp_state[0] in "AB" and record.offered_a == 0:
            log = dataclasses.replace(log, grant_a=0)
        return log
    if record.key == "error":
        return dataclasses.replace(log, errors=log.errors | {record.value})
    if record.key == "clear":
        return dataclasses.replace(log, errors=log.errors - {record.value})
    return dataclasses.replace(log, **{record.key: record.value})
