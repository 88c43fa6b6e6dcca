"""The polling thread both inverter pollers share (Solar API and SunSpec): one request every
`interval_s` on the injected clock, from start() until stop()."""

from __future__ import annotations

import threading


class IntervalPoller:
    """Subclasses set `interval_s`, `timeout_s`, `_clock`, `_last_request_at` and define
    `poll_once()` and `_release()` (what stop() closes after the thread has ended)."""

    thread_name = "inverter-poller"
    #: Short waits, so that an injected clock that jumps ahead is noticed soon.
    WAIT_STEP_S = 0.5

    def _init_thread(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            last = self._last_request_at
            now = self._clock()
            due = now if last is None else last + self.interval_s
            if now >= due:
                self.poll_once()
                continue
            self._stop.wait(min(due - now, self.WAIT_STEP_S))

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.timeout_s + 1.0)
        self._release()

    def poll_once(self):  # pragma: no cover - defined by each poller
        raise NotImplementedError

    def _release(self) -> None:
        pass
