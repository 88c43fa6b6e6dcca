"""Mode and pause that survive a restart or a power cut.

The state is one small JSON file in the state directory (default /var/lib/wallbox/state.json).
It is written only when something changed (the SD card wears with every write), and always
atomically: a temp file in the same directory is written, flushed and fsynced, then renamed over
the old file, and the directory is fsynced so the rename itself survives a power cut. A reader
therefore finds either the complete old state or the complete new one, never a torn file.

A missing file gives the defaults; an unreadable or corrupt one gives the defaults plus a warning
naming the file, so a damaged SD card never stops the service from charging.

The pause end is wall-clock UTC epoch seconds (not the monotonic clock, which restarts at boot), or
None while paused "until resumed".
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomicfile import fsync_directory, storage_problem
from .policy.types import MODES

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ApplianceState:
    mode: str
    paused: bool = False
    pause_until_epoch_s: float | None = None  # None while paused = until resumed

    def pause_active(self, now_epoch_s: float) -> bool:
        """True while the pause holds at this wall-clock moment (a timed pause ends by itself)."""
        if not self.paused:
            return False
        return self.pause_until_epoch_s is None or now_epoch_s < self.pause_until_epoch_s

    def pause_remaining_s(self, now_epoch_s: float) -> float | None:
        """Seconds left of a timed pause; None when not paused or paused until resumed."""
        if not self.pause_active(now_epoch_s) or self.pause_until_epoch_s is None:
            return None
        return max(0.0, self.pause_until_epoch_s - now_epoch_s)

    def expire(self, now_epoch_s: float) -> "ApplianceState":
        """The state with a pause that has run out cleared (mode unchanged)."""
        if self.paused and not self.pause_active(now_epoch_s):
            return ApplianceState(self.mode)
        return self

    def to_json(self) -> str:
        return json.dumps({"version": FORMAT_VERSION, "mode": self.mode, "paused": self.paused,
                           "pause_until_epoch_s": self.pause_until_epoch_s}, sort_keys=True) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Replaces path with text so that a crash or power cut leaves either the old or the new file.

    Raises OSError. The temp file has a fixed name next to the target, so a write killed half-way
    leaves at most one stray temp file, which the next write overwrites.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    data = text.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        # A full card: the half-written temp file would only take the space the next try needs.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(path.parent)


class StateStore:
    """Loads and saves the appliance state in `directory`/state.json."""

    def __init__(self, directory: Path | str, default_mode: str):
        if default_mode not in MODES:
            raise ValueError(f"default_mode {default_mode!r} is not one of {', '.join(MODES)}")
        self.directory = Path(directory)
        self.path = self.directory / STATE_FILE
        self.default_mode = default_mode
        self.writes = 0  # how many times the file was written (tests and the status page use it)
        # "SD card full: ..." while the state could not be saved, for the screen; None when fine.
        self.storage_problem: str | None = None
        self._pending: ApplianceState | None = None  # saved in memory only, written by retry()
        self._on_disk: ApplianceState | None = None

    @property
    def defaults(self) -> ApplianceState:
        return ApplianceState(self.default_mode)

    def load(self) -> ApplianceState:
        """The saved state, or the defaults (with a warning if the file is damaged). Never raises."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._on_disk = None
            return self.defaults
        except (OSError, UnicodeDecodeError) as e:
            log.warning("The saved mode and pause in %s cannot be read (%s): starting in mode %s, "
                        "not paused. Check the SD card and the permissions of %s.",
                        self.path, getattr(e, "strerror", None) or e, self.default_mode, self.directory)
            self._on_disk = None
            return self.defaults
        state, problem = self._parse(text)
        if problem:
            log.warning("The saved mode and pause in %s are damaged (%s): starting in mode %s, "
                        "not paused. The file is rewritten at the next change.",
                        self.path, problem, state.mode)
            # Remember nothing as on disk, so the next save replaces the damaged file.
            self._on_disk = None
        else:
            self._on_disk = state
        return state

    def _parse(self, text: str) -> tuple[ApplianceState, str]:
        try:
            raw: Any = json.loads(text)
        except ValueError as e:
            return self.defaults, f"not valid JSON: {e}"
        if not isinstance(raw, dict):
            return self.defaults, "not a JSON object"
        mode = raw.get("mode")
        problem = ""
        if mode not in MODES:
            problem = f"unknown mode {mode!r}"
            mode = self.default_mode
        paused = raw.get("paused", False)
        until = raw.get("pause_until_epoch_s")
        if not isinstance(paused, bool):
            return ApplianceState(mode), f"paused is {paused!r}, not true or false"
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))
                                  or not math.isfinite(until)):
            return ApplianceState(mode), f"pause_until_epoch_s is {until!r}, not a time"
        if not paused:
            until = None
        return ApplianceState(mode, paused, None if until is None else float(until)), problem

    def save(self, state: ApplianceState) -> bool:
        """Writes state if it differs from what is on disk. Returns whether it wrote.

        A failing write (read-only or full SD card) is logged and reported as False, never raised:
        the service keeps charging with the state in memory.
        """
        if state.mode not in MODES:
            raise ValueError(f"mode {state.mode!r} is not one of {', '.join(MODES)}")
        if self._on_disk is None and self.path.exists():
            self._on_disk = self._read_quietly()
        if state == self._on_disk:
            return False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, state.to_json())
        except OSError as e:
            if self._pending is None:
                log.warning("Cannot save the mode and pause to %s (%s): they are kept in memory and "
                            "saved when it works again. Check that %s exists, is writable by the "
                            "service and has free space.", self.path, e.strerror or e, self.directory)
            self._pending = state
            self.storage_problem = storage_problem(e, self.directory, "mode and pause")
            return False
        if self._pending is not None:
            log.info("Saved the mode and pause to %s again.", self.path)
        self._pending = None
        self.storage_problem = None
        self._on_disk = state
        self.writes += 1
        return True

    @property
    def waiting(self) -> bool:
        """A state the card refused waits to be written (retry() writes it)."""
        return self._pending is not None

    def retry(self) -> bool:
        """Saves a state that an earlier save() could not write; call it now and then (cheap when
        nothing waits). Returns whether it wrote."""
        return self.save(self._pending) if self._pending is not None else False

    def _read_quietly(self) -> ApplianceState | None:
        try:
            state, problem = self._parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None
        return None if problem else state


def apply_command(state: ApplianceState, command: dict, *, now_epoch_s: float) -> tuple[ApplianceState, dict]:
    """Applies a validated change command ("mode", "pause", "resume") to the state.

    Returns the new state and the answer for the control socket. The answer's keys are what
    `wallbox mode|pause|resume` print from: mode/previous_mode, paused/pause_until_epoch_s,
    was_paused. Validation of the command itself is the control socket's job.
    """
    state = state.expire(now_epoch_s)
    name = command.get("command")
    if name == "mode":
        new = ApplianceState(command["mode"], state.paused, state.pause_until_epoch_s)
        return new, {"ok": True, "mode": new.mode, "previous_mode": state.mode, "paused": new.paused,
                     "pause_until_epoch_s": new.pause_until_epoch_s}
    if name == "pause":
        minutes = command.get("minutes")
        until = None if not minutes else now_epoch_s + float(minutes) * 60.0
        new = ApplianceState(state.mode, True, until)
        return new, {"ok": True, "mode": new.mode, "paused": True, "pause_until_epoch_s": until,
                     "was_paused": state.paused}
    if name == "resume":
        new = ApplianceState(state.mode)
        return new, {"ok": True, "mode": new.mode, "paused": False, "was_paused": state.paused}
    raise ValueError(f"apply_command cannot apply {name!r}")
