"""The link that keeps a Vestel EMS wallbox told and alive: failsafe, setpoint, heartbeat, status.

One thread owns the Modbus client. The control loop only hands the setpoint over and wakes the thread,
so it never waits for the box. Each turn does, in this order: the setpoint (when it changed, is due
for a refresh or must be written again), the heartbeat (when due), then at most one status request;
a setpoint or heartbeat never waits behind more than one request. Identity waits until the setpoint
has rested for a while. The heartbeat (6000) is written only while the box holds a setpoint the link
could write and the box confirmed: when the box refuses the setpoint, or keeps reading back something
else, the heartbeat stops, so the box falls back to its failsafe current (rule 8) until it is accepted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..base import ChargerHealth
from .client import (
    VestelClient, WallboxError, WallboxIdentity, WallboxRefused, WallboxStatus, _check_current, identity_from_values,
)
from .handover import Handover, tell
from .phases import PHASE_SWITCH_READ, PhaseSwitch
from .registers import IDENTITY_PLAN
from .schedule import StatusReads, StatusSchedule
from .status import StatusKeeper

log = logging.getLogger("appliance.vestel")


def retry_wait_s(away_s: float) -> float:
    """Reconnect quickly at first (a restarted box runs at its own default current meanwhile) and
    more rarely the longer the box stays away: at most a tenth of the time away, 1 to 30 s."""
    return min(30.0, max(1.0, away_s / 10.0))


class WallboxLink:
    """Keeps the wallbox alive and told, independent of inverter pushes (see the module docstring)."""

    STAYED_S = 10.0  # a connection that lasted this long ends an absence: the next loss retries at once

    def __init__(self, client: VestelClient, *, failsafe_current_a: int, failsafe_timeout_s: int,
                 schedule: StatusSchedule = StatusSchedule(), setpoint_refresh_s: float = 60.0,
                 phase_switch_pause_s: float = 120.0, clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[str], None] | None = None):
        _check_current(failsafe_current_a, "The failsafe current")
        if failsafe_timeout_s < 1:
            raise ValueError(f"The failsafe timeout must be at least 1 s, not {failsafe_timeout_s!r}.")
        self.client = client
        self.failsafe_current_a = int(failsafe_current_a)
        self.failsafe_timeout_s = int(failsafe_timeout_s)
        self.heartbeat_interval_s = failsafe_timeout_s / 4.0
        self.setpoint_refresh_s = setpoint_refresh_s
        self._clock, self._on_event = clock, on_event
        self.after_turn: Callable[[], None] | None = None  # EmsCharger.on_change's comparison
        self._reads = StatusReads(schedule)
        self.status_keeper = StatusKeeper(self, self._reads, schedule)
        self.phase_switch = PhaseSwitch(self, phase_switch_pause_s)

        self._lock = threading.Lock()  # guards what the control loop reads; never held during I/O
        self._wake, self._stop = Handover(), threading.Event()
        self._thread: threading.Thread | None = None
        self._desired_a: int | None = None
        self._handed_at = float("-inf")  # when the control loop last handed over a new setpoint
        self._connected = False
        self._last_error: str | None = None
        self._identity: WallboxIdentity | None = None
        self._identity_tried = self._ever_connected = False
        self._lost_at: float | None = None   # since when the box is away (None: it is not)
        self._connected_at: float | None = None
        self._retry_at = 0.0
        # What the box holds, as far as the link can confirm (thread-owned).
        self.confirmed_a: int | None = None
        self.setpoint_problem: str | None = None  # why the heartbeat is stopped
        self.rewrite = False                      # write the setpoint again (the box may have lost it)
        self._setpoint_retry_at = 0.0
        self._next_refresh = 0.0
        self._last_alive_at: float | None = None
        self._next_alive_at = 0.0
        self.heartbeats_written = self.setpoint_writes = self.reconnects = 0

    # --- what the control loop reads ----------------------------------------------------------
    @property
    def status(self) -> WallboxStatus | None:
        """The newest plausible status, or None (none yet, or the newest one was implausible)."""
        return self.status_keeper.status

    @property
    def status_age_s(self) -> float | None:
        latest = self.status_keeper.latest
        return None if latest is None else self._clock() - latest[1]

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def identity(self) -> WallboxIdentity | None:
        return self._identity

    @property
    def last_error(self) -> str | None:
        """Why the box is not there, or why its status is not read; None when all is well."""
        return self._last_error or self.status_keeper.problem

    def health(self) -> ChargerHealth:
        now = self._clock()
        desired = self._wanted_a()
        with self._lock:
            connected, error = self._connected, self._last_error
        confirmed, alive_at = self.confirmed_a, self._last_alive_at
        problem = self.setpoint_problem or self.status_keeper.readback_problem
        late = alive_at is not None and now - alive_at > self.failsafe_timeout_s / 2
        holding = (connected and desired is not None and confirmed == desired and problem is None
                   and alive_at is not None and not late and not self.rewrite)
        if problem is None and late:
            problem = (f"No heartbeat reached the wallbox for {now - alive_at:.0f} s: it may be at its failsafe "
                       f"current of {self.failsafe_current_a} A; check the link's load and the box.")
        problem = problem or error or self.status_keeper.problem
        return ChargerHealth(connected=connected, holding=holding, problem=problem,
                             setpoint_a=confirmed if connected else None)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("The wallbox link is already running.")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wallbox-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.wake()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2 * self.client.timeout_s + 5)
        self.client.close()
        with self._lock:
            self._connected = False

    def set_setpoint(self, current_a: int) -> bool:
        """Hand the setpoint to the link's thread and wake it (an idle thread takes it up before
        this returns, within 3 ms; one busy with a request is not waited for). Never raises.

        True when the value was taken (the link writes it as soon as it can), False when it is not
        a setpoint the box may be given (then nothing changes).
        """
        try:
            current_a = _check_current(current_a, "The setpoint")
        except (ValueError, TypeError) as exc:
            self._event(f"Setpoint not written: {exc}")
            return False
        with self._lock:
            changed = current_a != self._desired_a
            self._desired_a = current_a
            self._handed_at = self._clock() if changed else self._handed_at
        if changed:  # the same value every second need not wake the thread (nor take the GIL)
            self._wake.wake(hand_over=self._connected)
        return True

    def set_phases(self, phases: int) -> bool:
        """Hand over 1 or 3 phases (see phases.py); never blocks, never raises. False: not a phase count."""
        if phases not in (1, 3) or isinstance(phases, bool):
            self._event(f"Phases not switched: {phases!r} is not 1 or 3.")
            return False
        self.phase_switch.wanted = int(phases)
        self._wake.wake()
        return True

    def _wanted_a(self) -> int | None:
        """The setpoint the box is to hold now: the core's, or 0 while the phases are switched."""
        with self._lock:
            desired = self._desired_a
        return 0 if desired is not None and self.phase_switch.pausing() else desired

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay_s = self.step()
            except Exception:  # a bug here must not end the thread: the box would keep its current
                log.exception("Wallbox link turn failed; reconnecting")
                self._lost("internal error (see the log above)")
                delay_s = 1.0
            tell(self.after_turn)
            self._wake.sleep(min(delay_s, 30.0))

    # --- one turn ---------------------------------------------------------------------------------
    def step(self) -> float:
        """Do the next piece of work; the seconds until more is due. Tests call it with a stepped clock."""
        now = self._clock()
        if not self._connected:
            if now < self._retry_at:
                return self._retry_at - now
            self._connect(now)
            return 0.0 if self._connected else max(0.0, self._retry_at - self._clock())
        try:
            self._setpoint_turn(now)
            self.phase_switch.turn(self._clock())
            self._heartbeat_turn(self._clock())
            if not self._setpoint_due(self._clock()):  # one handed over meanwhile goes before any read
                self._read_turn(self._clock())
        except (WallboxError, ValueError) as exc:
            self._lost(str(exc))
            return 0.0
        return max(0.0, self._next_due_at() - self._clock())

    def _next_due_at(self) -> float:
        due = [self._reads.next_due_at(self._spare_from()), self.phase_switch.next_due_at()]
        desired = self._wanted_a()
        if desired is not None:
            if desired != self.confirmed_a or self.rewrite:
                due.append(self._setpoint_retry_at)
            else:
                due.append(self._next_refresh)
        if self._may_heartbeat():
            due.append(self._next_alive_at)
        return min(due)

    def _spare_from(self) -> float:
        with self._lock:
            return self._handed_at + self._reads.schedule.spare_after_quiet_s

    def _may_heartbeat(self) -> bool:
        desired = self._wanted_a()
        return (desired is not None and self.confirmed_a == desired and self.setpoint_problem is None
                and self.status_keeper.readback_problem is None)

    def _setpoint_due(self, now: float) -> bool:
        desired = self._wanted_a()
        if desired is None or now < self._setpoint_retry_at:
            return False
        return desired != self.confirmed_a or self.rewrite or now >= self._next_refresh

    def _setpoint_turn(self, now: float) -> None:
        if not self._setpoint_due(now):
            return
        desired = self._wanted_a()
        self._wake.taken()  # the control loop, if it waits for the hand-over, may go on
        try:
            self.client.write_setpoint(desired)
        except WallboxRefused as exc:
            self._setpoint_refused(now, desired, exc)
            return
        previous, self.confirmed_a, self.rewrite = self.confirmed_a, desired, False
        self._setpoint_retry_at = 0.0
        self._next_refresh = self._clock() + self.setpoint_refresh_s
        self.setpoint_writes += 1
        if self.setpoint_problem is not None:
            self.setpoint_problem = None
            self._event(f"The wallbox accepted the setpoint {desired} A again: heartbeat resumed.")
        if previous != desired:
            self.status_keeper.changed(now)
        self.status_keeper.written(now)

    def _setpoint_refused(self, now: float, desired: int, exc: WallboxRefused) -> None:
        self.confirmed_a = None
        self._last_alive_at = None  # stopped on purpose: the box is to fall back
        self._setpoint_retry_at = now + self.heartbeat_interval_s
        first = self.setpoint_problem is None
        self.setpoint_problem = (
            f"{exc} The heartbeat is stopped, so the box falls back to its failsafe current of "
            f"{self.failsafe_current_a} A within {self.failsafe_timeout_s} s; the setpoint {desired} A is "
            f"tried again every {self.heartbeat_interval_s:g} s."
        )
        if first:
            self._event(self.setpoint_problem)

    def _heartbeat_turn(self, now: float) -> None:
        if not self._may_heartbeat() or now < self._next_alive_at:
            return
        self.client.write_alive()
        self.heartbeats_written += 1
        if self._last_alive_at is not None and now - self._last_alive_at > self.failsafe_timeout_s / 2:
            # The box checks every timeout/2: it may have fallen back, and its failsafe sticks until 5004.
            self.rewrite = True
            self._event(
                f"The heartbeat was {now - self._last_alive_at:.1f} s apart, more than the box's check interval "
                f"of {self.failsafe_timeout_s / 2:g} s: it may have fallen back to its failsafe current; "
                "setpoint written again."
            )
        self._last_alive_at = now
        self._next_alive_at = now + self.heartbeat_interval_s

    def _read_turn(self, now: float) -> None:
        planned = self._reads.next(now, quick=self.status_keeper.quick(now), spare_from=self._spare_from())
        if planned is None:
            return
        if planned.group == "phase_switch":
            self.phase_switch.read()
            return
        try:
            values = self.client.read_run(planned.run)
        except WallboxRefused as exc:
            if planned.group == "identity":
                self._identity_known(None, exc)
            else:
                self.status_keeper.refused(exc)
            return
        self._reads.values.update(values)
        if planned.group == "identity":
            if planned.last:
                self._identity_known(identity_from_values(self._reads.values), None)
            return
        self.status_keeper.absorb(values, now)
        if planned.last:
            self.status_keeper.group_done(planned.group, now)

    # --- connection -----------------------------------------------------------------------------
    def _connect(self, now: float) -> None:
        """Connect and bring the box into a known state: failsafe first (safety rule 5), then the
        setpoint and the heartbeat (safety rule 6: the box keeps its failsafe until 5004 is written)."""
        client = self.client
        client.close()
        self.confirmed_a, self.rewrite, self._last_alive_at = None, False, None
        self._setpoint_retry_at = self._next_alive_at = 0.0
        try:
            if not client.connect():
                raise WallboxError(f"Could not open the connection to the wallbox ({client.describe()}): {client.fix_hint}.")
            client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
            self.phase_switch.reconnected()
            self._setpoint_turn(self._clock())
            self._heartbeat_turn(self._clock())
        except (WallboxError, ValueError) as exc:
            self._connect_failed(now, exc)
            return
        spare = {"identity": IDENTITY_PLAN, "phase_switch": (PHASE_SWITCH_READ,)} if not self._identity_tried else {}
        self._reads.restart(self._clock(), spare)
        self.status_keeper.reconnected()
        with self._lock:
            self._connected = True
            self._last_error = None
        self._connected_at = self._clock()
        if self._ever_connected:
            self.reconnects += 1
            away_s = now - self._lost_at if self._lost_at is not None else 0.0
            told = (f"setpoint {self.confirmed_a} A written again" if self.confirmed_a is not None
                    else "no setpoint to restore yet")
            self._event(f"Wallbox answered again after {away_s:.0f} s: {told}.")
        self._ever_connected = True

    def _connect_failed(self, now: float, exc: Exception) -> None:
        with self._lock:
            first = self._last_error is None
            self._last_error = str(exc)
        if self._lost_at is None:
            self._lost_at = now
        self._retry_at = self._clock() + retry_wait_s(now - self._lost_at)
        self.client.close()
        if first:
            self._event(f"{exc} Retrying every 1 s at first, more rarely (up to 30 s) the longer it stays away.")

    def _lost(self, error: str) -> None:
        now = self._clock()
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._last_error = error
        self.confirmed_a, self._last_alive_at = None, None
        self._reads.clear()
        connected_for_s = now - self._connected_at if self._connected_at is not None else 0.0
        if self._lost_at is None or connected_for_s >= self.STAYED_S:
            self._lost_at = now
            self._retry_at = now  # at once: a box that restarted may be back already
        else:
            # It failed right after connecting: keep backing off, do not hammer it.
            self._retry_at = now + retry_wait_s(now - self._lost_at)
        self.client.close()
        if was_connected:
            self._event(
                f"Wallbox stopped answering: {error} Reconnecting; if it stays away the box falls back to "
                f"{self.failsafe_current_a} A after {self.failsafe_timeout_s} s."
            )

    def _identity_known(self, identity: WallboxIdentity | None, refused: WallboxRefused | None) -> None:
        self._identity_tried = True
        if refused is not None:
            # Identity is for people, not for control: a box without some of it still charges.
            self._event(f"Could not read the wallbox's identity, carrying on without it: {refused}")
            self._reads.drop_group("identity")
        self._identity = identity
        what = (f"{identity.brand} {identity.model}, serial {identity.serial}, firmware {identity.firmware}"
                if identity is not None else "identity unknown")
        self._event(
            f"Wallbox connected ({self.client.describe()}): {what}; failsafe {self.failsafe_current_a} A "
            f"after {self.failsafe_timeout_s} s."
        )

    def write_failsafe_again(self) -> None:
        """The box lost its failsafe registers (restarted without the connection dropping)."""
        self.client.write_failsafe(self.failsafe_current_a, self.failsafe_timeout_s)
        self.rewrite = True

    def _event(self, sentence: str) -> None:
        log.info("%s", sentence)
        tell(self._on_event, sentence)
