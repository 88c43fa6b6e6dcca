"""Tells systemd how the service is doing: ready, status line, watchdog pings, stopping.

systemd starts the service with NOTIFY_SOCKET set (Type=notify) and, with WatchdogSec= in the unit,
WATCHDOG_USEC and WATCHDOG_PID. Messages are single datagrams of "KEY=value" lines on that unix
socket; a name starting with "@" is an abstract socket. Without NOTIFY_SOCKET (a terminal, the
tests, the demo) every call does nothing, so callers never need to ask whether systemd is there.

Sending never raises: a lost watchdog ping must not take the service down by itself. If pings stop
arriving, systemd kills and restarts the service, which is exactly what the watchdog is for.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """sd_notify client. `environ` defaults to os.environ (read once, at construction)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address or None
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._socket: socket.socket | None = None
        self._failing = False  # log a failure once, not every control cycle

    @property
    def enabled(self) -> bool:
        """True when systemd is listening (NOTIFY_SOCKET is set)."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """The unit's WatchdogSec= in seconds, or None when no watchdog watches this process.

        It is the limit between two pings; ping at least twice within it (the service pings every
        control cycle, about once a second).
        """
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None  # the variables were inherited from a parent the watchdog is meant for
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 1_000_000 if usec > 0 else None

    def ready(self, status: str = "") -> bool:
        """Start-up is finished: systemd marks the unit active (Type=notify)."""
        fields = ["READY=1"]
        if status:
            fields.append("STATUS=" + _one_line(status))
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """A one-line status shown by `systemctl status wallbox`."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """The service is alive: resets systemd's WatchdogSec= timer."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """The service is shutting down on purpose."""
        return self.notify("STOPPING=1")

    def notify(self, *fields: str) -> bool:
        """Sends the fields as one datagram; True if it was sent, False if not (never raises)."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(fields).encode("utf-8"), self._address)
        except OSError as error:
            if not self._failing:
                log.warning(
                    "Could not tell systemd %s through %r: %s. If this goes on, systemd's "
                    "watchdog restarts the service.",
                    ", ".join(fields), self._address.replace("\0", "@"), error,
                )
            self._failing = True
            self.close()
            return False
        self._failing = False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _one_line(text: str) -> str:
    # A newline would start a new KEY=value field in the datagram.
    return " ".join(text.split())
