"""Repeated log lines summarized: the first one is logged, the rest are counted for a minute.

A flood of identical lines (2,000 identical mode commands, a misconfigured device retrying every
second) fills the RAM journal and hides what matters. The first line of a kind passes; the same
line again within `window_s` is counted, not logged; when the window is over, one line says
"... and 1,999 more like it in the last minute" (at the next log line of any kind, or at `flush()`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KINDS = 256


@dataclass
class _Seen:
    first_s: float
    logger: str
    level: int
    text: str
    suppressed: int = 0


class RepeatSummarizer(logging.Filter):
    """A logging filter for the service's handlers."""

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], _Seen] = {}
        self._lock = threading.Lock()
        self._emitting = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._emitting, "active", False):
            return True
        due = self._take_due()
        text = record.getMessage()
        key = (record.name, record.levelno, text)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.first_s < self.window_s:
                seen.suppressed += 1
                passes = False
            else:
                if len(self._seen) >= MAX_KINDS:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[key] = _Seen(now, record.name, record.levelno, text)
                passes = True
        self._emit(due)
        return passes

    def flush(self) -> None:
        """Log the summaries whose window is over (the service calls it now and then)."""
        self._emit(self._take_due())

    def _take_due(self) -> list[_Seen]:
        now = self.clock()
        with self._lock:
            due = [k for k, s in self._seen.items() if now - s.first_s >= self.window_s]
            return [s for s in (self._seen.pop(k) for k in due) if s.suppressed]

    def _emit(self, summaries: list[_Seen]) -> None:
        if not summaries:
            return
        self._emitting.active = True
        try:
            for s in summaries:
                short = s.text if len(s.text) <= 80 else s.text[:77] + "..."
                logging.getLogger(s.logger).log(
                    s.level, "... and %s more like \"%s\" in the last %s.", f"{s.suppressed:,}", short,
                    "minute" if self.window_s == 60 else f"{self.window_s:g} s")
        finally:
            self._emitting.active = False
