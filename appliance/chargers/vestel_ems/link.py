"""The link that keeps a Vestel EMS wallbox told and alive: failsafe, heartbeat, setpoint, status."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .client import VestelClient, WallboxError, WallboxIdentity, WallboxRefused, WallboxStatus, _check_current

log = logging.getLogger("appliance.vestel")

class WallboxLink:
    """Keeps the wallbox alive and told, independent of inverter pushes.

    A background thread connects, sets the failsafe registers before anything else, writes the
    alive register every failsafe_timeout_s/4 from its own timer, reads the status, rewrites the
    setpoint every setpoint_refresh_s, and reconnects with backoff (1, 2, 4 ... 30 s). After every
    reconnect it sets the failsafe registers again and then rewrites the setpoint, because the box
    keeps its failsafe current until 5004 is written (sticky failsafe).
    """

    BACKOFF_MAX_S = 30.0

    def __init__(
        self,
        client: VestelClient,
        *,
        failsafe_current_a: int,
        failsafe_timeout_s: int,
        status_interval_s: float = 2.0,
        setpoint_refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[str], None] | None = None,
    ):
        _check_current(failsafe_current_a, "The failsafe current")
        if failsafe_timeout_s < 1:
            raise ValueError(f"The failsafe timeout must be at least 1 s, not {failsafe_timeout_s!r}.")
        self.client = client
        self.failsafe_current_a = int(failsafe_current_a)
        self.failsafe_timeout_s = int(failsafe_timeout_s)
        self.heartbeat_interval_s = failsafe_timeout_s / 4.0
        self.status_interval_s = status_interval_s
        self.setpoint_refresh_s = setpoint_refresh_s
        # Frozen answers: the box's clock (294) must change at least this often.
        self.frozen_after_s = max(10.0, 3 * status_interval_s)
        self._clock = clock
        self._on_event = on_event

        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False
        self._ever_connected = False
        self._lost_at: float | None = None
        self._desired_a: int | None = None
        self._written_a: int | None = None
        self._next_refresh = 0.0
        self._status: WallboxStatus | None = None
        self._status_at: float | None = None
        self._identity: WallboxIdentity | None = None
        self._last_error: str | None = None
        self._box_time_seen: tuple[int, float] | None = None
        self._next_heartbeat = 0.0
        self._status_refused = False
        self._backoff_s = 1.0
        self._retry_wait_s = 0.0
        self._good_since_connect = False  # a status read succeeded on this connection

        self.heartbeats_written = 0
        self.setpoint_writes = 0
        self.reconnects = 0

    # --- public state ---------------------------------------------------------------------

    @property
    def status(self) -> WallboxStatus | None:
        return self._status

    @property
    def status_age_s(self) -> float | None:
        at = self._status_at
        return None if at is None else self._clock() - at

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def identity(self) -> WallboxIdentity | None:
        return self._identity

    @property
    def last_error(self) -> str | None:
        return self._last_error

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("The wallbox link is already running.")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wallbox-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2 * self.client.timeout_s + 5)
        self.client.close()
        with self._state_lock:
            self._connected = False

    # --- called from the control loop ---------------------------------------------------------

    def set_setpoint(self, current_a: int) -> bool:
        """Tell the box the new setpoint at once; True when the box has it. Never raises."""
        try:
            current_a = _check_current(current_a, "The setpoint")
        except (ValueError, TypeError) as exc:
            self._event(f"Setpoint not written: {exc}")
            return False
        with self._state_lock:
            self._desired_a = current_a
            if not self._connected:
                return False
            if self._written_a == current_a:
                return True
        return self._write_setpoint(current_a)

    # --- internals ------------------------------------------------------------------------------

    def _event(self, sentence: str) -> None:
        log.info("%s", sentence)
        if self._on_event is not None:
            try:
                self._on_event(sentence)
            except Exception:  # a broken listener must not stop the heartbeat
                log.exception("Wallbox event listener failed")

    def _write_setpoint(self, current_a: int) -> bool:
        try:
            self.client.write_setpoint(current_a)
        except (WallboxError, ValueError) as exc:
            self._lost(str(exc))
            return False
        with self._state_lock:
            self._written_a = current_a
            self.setpoint_writes += 1
            self._next_refresh = self._clock() + self.setpoint_refresh_s
        return True

    def _lost(self, error: str) -> None:
        with self._state_lock:
            was_connected = self._connected
            self._connected = False
            self._written_a = None
            self._last_error = error
            if was_connected:
                self._lost_at = self._clock()
                if not self._good_since_connect:
                    # A box that accepts the connection and then fails at once gets backoff too.
                    self._retry_wait_s = self._backoff_s
                    self._backoff_s = min(self._backoff_s * 2, self.BACKOFF_MAX_S)
        self.client.close()
        if was_connected:
            self._event(
                f"Wallbox stopped answering: {error} Reconnecting; if it stays away the box falls back to "
                f"{self.failsafe_current_a} A after {self.failsafe_timeout_s} s."
            )

    def _connect(self) -> bool:
        """Connect and bring the box into a known state; raises WallboxError on failure."""
        client = self.client
        client.close()
        if not client.connect():
            raise WallboxError(f"Could not open the connection to the wallbox ({client.describe()}): {client.fix_hint}.")
        # Safety rule 5: the failsafe registers come before any other request.
        client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
        client.write_alive()
        self.heartbeats_written += 1
        next_heartbeat = self._clock() + self.heartbeat_interval_s
        try:
            identity: WallboxIdentity | None = client.read_identity()
        except WallboxRefused as exc:
            # Identity is for people, not for control: a box without some of it still charges.
            identity = None
            self._event(f"Could not read the wallbox's identity, carrying on without it: {exc}")
        with self._state_lock:
            desired = self._desired_a
        if desired is not None:
            # Safety rule 6: the box keeps its failsafe current until 5004 is written again.
            client.write_setpoint(desired)
            with self._state_lock:
                self._written_a = desired
                self.setpoint_writes += 1
                self._next_refresh = self._clock() + self.setpoint_refresh_s
        with self._state_lock:
            self._identity = identity
            self._connected = True
            self._last_error = None
            self._box_time_seen = None
            self._status_refused = False
        self._next_heartbeat = next_heartbeat
        now = self._clock()
        if not self._ever_connected:
            self._ever_connected = True
            what = (
                f"{identity.brand} {identity.model}, serial {identity.serial}, firmware {identity.firmware}"
                if identity is not None
                else "identity unknown"
            )
            self._event(
                f"Wallbox connected ({client.describe()}): {what}; failsafe {self.failsafe_current_a} A "
                f"after {self.failsafe_timeout_s} s."
            )
        else:
            self.reconnects += 1
            away_s = now - self._lost_at if self._lost_at is not None else 0.0
            told = f"setpoint {desired} A written again" if desired is not None else "no setpoint to restore yet"
            self._event(f"Wallbox answered again after {away_s:.0f} s: {told}.")
        return True

    def _read_status(self) -> None:
        try:
            status = self.client.read_status()
        except WallboxRefused as exc:
            # The box is there (the heartbeat goes on) but refuses a status register: keep the old
            # status, whose age tells the control loop it is stale, and say so once.
            with self._state_lock:
                self._last_error = str(exc)
            if not self._status_refused:
                self._status_refused = True
                self._event(f"Wallbox status unavailable: {exc}")
            return
        self._status_refused = False
        now = self._clock()
        with self._state_lock:
            self._good_since_connect = True
            self._backoff_s = 1.0
            self._last_error = None
            previous = self._status
            self._status = status
            self._status_at = now
            desired = self._desired_a
        seen = self._box_time_seen
        if seen is None or seen[0] != status.box_time_hhmmss:
            self._box_time_seen = (status.box_time_hhmmss, now)
        elif now - seen[1] > self.frozen_after_s:
            raise WallboxError(
                f"The wallbox's clock (register 294) has not changed for {now - seen[1]:.0f} s: its answers "
                "are frozen; reopening the connection."
            )
        if (status.failsafe_current_a, status.failsafe_timeout_s) != (self.failsafe_current_a, self.failsafe_timeout_s):
            # The box lost them (restarted without the connection dropping, e.g. on RS-485).
            self._event(
                f"Wallbox reports failsafe {status.failsafe_current_a} A after {status.failsafe_timeout_s} s "
                f"instead of {self.failsafe_current_a} A after {self.failsafe_timeout_s} s (restarted?): "
                "failsafe and setpoint written again."
            )
            self.client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
            if desired is not None:
                self._write_setpoint(desired)
            return
        if status.car_connected and previous is not None and not previous.car_connected and desired is not None:
            # The box may have changed 5004 on its own while no car was there (0 reads back as 6).
            self._event(f"Car connected: setpoint {desired} A written again.")
            self._write_setpoint(desired)

    def _run(self) -> None:
        next_status = 0.0
        while not self._stop.is_set():
            if not self._connected:
                if self._retry_wait_s > 0:
                    if self._stop.wait(self._retry_wait_s):
                        break
                    self._retry_wait_s = 0.0
                try:
                    with self._state_lock:
                        self._good_since_connect = False
                    self._connect()
                    next_status = self._clock()
                except (WallboxError, ValueError) as exc:
                    with self._state_lock:
                        first_failure = self._last_error is None
                        self._last_error = str(exc)
                        if self._lost_at is None:
                            self._lost_at = self._clock()
                        self._retry_wait_s = self._backoff_s
                        self._backoff_s = min(self._backoff_s * 2, self.BACKOFF_MAX_S)
                    self.client.close()
                    if first_failure:
                        self._event(f"{exc} Retrying every {self._retry_wait_s:g}-{self.BACKOFF_MAX_S:g} s.")
                    continue
            try:
                now = self._clock()
                if now >= self._next_heartbeat:
                    self.client.write_alive()
                    self.heartbeats_written += 1
                    # Own timer: a slow status read does not push the heartbeat later.
                    self._next_heartbeat += self.heartbeat_interval_s
                    if self._next_heartbeat <= now:
                        self._next_heartbeat = now + self.heartbeat_interval_s
                with self._state_lock:
                    desired, written = self._desired_a, self._written_a
                    refresh_due = desired is not None and (written != desired or now >= self._next_refresh)
                if refresh_due:
                    if not self._write_setpoint(desired):
                        continue
                if now >= next_status:
                    self._read_status()
                    next_status = max(next_status + self.status_interval_s, now)
            except (WallboxError, ValueError) as exc:
                self._lost(str(exc))
                continue
            if not self._connected:
                continue
            with self._state_lock:
                next_refresh = self._next_refresh if self._desired_a is not None else float("inf")
            due = min(self._next_heartbeat, next_status, next_refresh)
            self._stop.wait(max(0.0, min(due - self._clock(), 1.0)))
