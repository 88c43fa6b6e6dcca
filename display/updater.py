"""Keeps the panel showing the latest state: a redraw every interval, and at once on `wake()`.

    updater = ScreenUpdater(backend, service.snapshot, interval_s=1.0).start()
    ...
    def on_short_press():
        service.toggle_pause()
        updater.wake()          # the screen confirms the press now, not at the next interval

Only pictures that differ are sent to the panel (the backend compares), so a one-second interval
costs a render (about a millisecond) and no SPI traffic while nothing changes.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from PIL import Image

from display.screens import render
from display.snapshot import Snapshot

log = logging.getLogger(__name__)


class ScreenUpdater:
    """Draws `snapshot_source()` on `backend`; `on_frame(image, drawn)` sees every picture."""

    def __init__(
        self,
        backend,
        snapshot_source: Callable[[], Snapshot],
        interval_s: float = 1.0,
        on_frame: Callable[[Image.Image, bool], None] | None = None,
    ) -> None:
        self.backend = backend
        self.snapshot_source = snapshot_source
        self.interval_s = interval_s
        self.on_frame = on_frame
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backlight_on: bool | None = None
        self._lock = threading.Lock()
        self.frames_drawn = 0

    def update(self) -> bool:
        """Draw the current state now; True if the panel changed."""
        with self._lock:
            snapshot = self.snapshot_source()
            if snapshot.backlight_on != self._backlight_on:
                self.backend.set_backlight(snapshot.backlight_on)
                self._backlight_on = snapshot.backlight_on
            image = render(snapshot)
            drawn = self.backend.show(image)
            if drawn:
                self.frames_drawn += 1
            if self.on_frame is not None:
                self.on_frame(image, drawn)
            return drawn

    def wake(self) -> None:
        """Redraw as soon as possible (thread-safe; call it after a button press or a change)."""
        self._wake.set()

    def start(self) -> "ScreenUpdater":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="front-panel", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        failed_before = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.update()
                failed_before = False
            except Exception:
                # The screen is not worth stopping the service for; say it once, keep trying.
                if not failed_before:
                    log.exception("The front panel could not be drawn; retrying every %.0f s.", self.interval_s)
                failed_before = True
            self._wake.wait(self.interval_s)

    def close(self) -> None:
        """Stop redrawing and switch the panel off."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.backend.close()
