"""The one validator for commands, wherever they come from: control socket, button, web, MQTT.

A command is a small JSON-like dict ({"command": "mode", "mode": "pv"}); `validate` turns it into
a `Request` (or a sentence that names the fix), and only a `Request` reaches the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .policy.types import MODES, SOCKET_COMMANDS, Command, Mode

MAX_PAUSE_MINUTES = 7 * 24 * 60
ALL_COMMANDS: tuple[str, ...] = tuple(c.value for c in Command)


@dataclass(frozen=True)
class Request:
    command: Command
    mode: Mode | None = None          # "mode" only
    minutes: float | None = None      # "pause" only; None = until resumed

    def as_dict(self) -> dict:
        """The normalised request as the control socket's handlers see it."""
        if self.command == Command.MODE:
            return {"command": "mode", "mode": str(self.mode)}
        if self.command == Command.PAUSE:
            return {"command": "pause", "minutes": self.minutes}
        return {"command": str(self.command)}


def validate(request, allowed: tuple[str, ...] = ALL_COMMANDS) -> tuple[Request | None, str]:
    """A request reduced to what the core needs, or None and a readable error."""
    if not isinstance(request, dict):
        return None, 'A request is one JSON object per line, e.g. {"command": "status"}.'
    name = request.get("command")
    if not isinstance(name, str) or name not in allowed:
        return None, f"Unknown command {name!r}: use one of {', '.join(allowed)}."
    if name == Command.MODE:
        mode = request.get("mode")
        if not isinstance(mode, str) or mode not in MODES:
            return None, f"Unknown mode {mode!r}: use one of {', '.join(MODES)}."
        return Request(Command.MODE, mode=Mode(mode)), ""
    if name == Command.PAUSE:
        minutes = request.get("minutes")
        if minutes is not None:
            if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) \
                    or not math.isfinite(minutes) or not 0 <= minutes <= MAX_PAUSE_MINUTES:
                return None, (f"Pause minutes {minutes!r} is not possible: give 1 to "
                              f"{MAX_PAUSE_MINUTES} minutes, or none (or 0) to pause until resumed.")
            if minutes == 0:
                minutes = None  # as in the settings: 0 = until resumed
        return Request(Command.PAUSE, minutes=minutes), ""
    return Request(Command(name)), ""


def validate_socket_request(request) -> tuple[dict | None, str]:
    """The control socket's view: the commands a shell may send, as a normalised dict."""
    req, error = validate(request, SOCKET_COMMANDS)
    return (req.as_dict() if req else None), error
