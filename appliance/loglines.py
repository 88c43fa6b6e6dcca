"""The last log lines, kept in memory for the web page (the journal lives in RAM on the Pi too)."""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime


class LogRing(logging.Handler):
    """A logging handler that keeps the newest `capacity` records as plain dicts.

    Bounded, so a chatty fault cannot grow the service's memory; attach it to the "appliance"
    logger (or the root logger) next to the journal's handler.
    """

    def __init__(self, capacity: int = 200, level: int = logging.INFO):
        super().__init__(level)
        self._lines: deque[dict] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line or raise in the caller
            message = str(record.msg)
        line = {
            "time": datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S"),
            "level": record.levelname,
            "message": message,
        }
        with self.lock:
            self._lines.append(line)

    def lines(self, limit: int = 50) -> list[dict]:
        """The newest `limit` lines, oldest first."""
        with self.lock:
            items = list(self._lines)
        return items[-limit:] if limit > 0 else []
