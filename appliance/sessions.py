"""Charging sessions, plug-in to unplug, from the wallbox's readings.

A finished session is appended to sessions.csv in the state directory (one row each, header once,
fsynced, so a power cut loses at most the session that is still open). A failed append (a full
or read-only card) is cut back so the file stays whole lines; the session is kept in memory,
retried once a minute, and `storage_problem` says so for the screen meanwhile. The open session is also
kept in a small JSON sidecar (session_open.json), written at plug-in and every few minutes, not
every control cycle: after a restart mid-session the start time and the meter reading at plug-in
are still known.

Energy comes from the wallbox's own meter: the reading at unplug minus the reading at plug-in.
When a reading is missing or the meter goes backwards (a reset, a swapped box), the energy is the
integral of the car's power instead, and the energy_source column says so. The PV part is the
integral of the power the service counted as covered by PV surplus.

A wallbox that does not answer (car_connected None) neither starts nor ends a session.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from .atomicfile import append_csv_rows, storage_problem
from .state import atomic_write_text, fsync_directory

log = logging.getLogger(__name__)

CSV_FIELDS = ("start", "end", "energy_wh", "pv_energy_wh", "peak_current_a", "energy_source")
SIDECAR_NAME = "session_open.json"
RETRY_INTERVAL_S = 60.0
SOURCE_METER = "meter"
SOURCE_NO_METER = "integrated (no meter reading)"
SOURCE_METER_BACKWARDS = "integrated (meter went backwards)"


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Session:
    start: datetime
    end: datetime
    energy_wh: float
    pv_energy_wh: float
    peak_current_a: float
    energy_source: str = SOURCE_METER  # "meter", or why the energy was integrated instead

    @property
    def pv_share(self) -> float:
        """The part of the energy that came from PV surplus, 0..1."""
        if self.energy_wh <= 0:
            return 0.0
        return max(0.0, min(1.0, self.pv_energy_wh / self.energy_wh))

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())

    def csv_row(self) -> dict:
        return {"start": self.start.isoformat(timespec="seconds"),
                "end": self.end.isoformat(timespec="seconds"),
                "energy_wh": f"{self.energy_wh:.0f}", "pv_energy_wh": f"{self.pv_energy_wh:.0f}",
                "peak_current_a": f"{self.peak_current_a:.1f}", "energy_source": self.energy_source}


@dataclass
class _Open:
    start: datetime
    start_meter_wh: int | None
    last_meter_wh: int | None
    meter_backwards: bool = False
    integrated_wh: float = 0.0
    pv_wh: float = 0.0
    peak_current_a: float = 0.0
    last_seen: datetime | None = None
    restored: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "start": self.start.isoformat(), "start_meter_wh": self.start_meter_wh,
            "last_meter_wh": self.last_meter_wh, "meter_backwards": self.meter_backwards,
            "integrated_wh": self.integrated_wh, "pv_wh": self.pv_wh,
            "peak_current_a": self.peak_current_a,
            "last_seen": (self.last_seen or self.start).isoformat(),
        }, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "_Open":
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")

        def meter(key):
            v = raw.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"{key} is {v!r}")
            return v

        return cls(start=datetime.fromisoformat(raw["start"]),
                   start_meter_wh=meter("start_meter_wh"), last_meter_wh=meter("last_meter_wh"),
                   meter_backwards=bool(raw.get("meter_backwards", False)),
                   integrated_wh=float(raw.get("integrated_wh", 0.0)), pv_wh=float(raw.get("pv_wh", 0.0)),
                   peak_current_a=float(raw.get("peak_current_a", 0.0)),
                   last_seen=datetime.fromisoformat(raw.get("last_seen") or raw["start"]), restored=True)

    def energy(self) -> tuple[float, str]:
        if self.start_meter_wh is None or self.last_meter_wh is None:
            return self.integrated_wh, SOURCE_NO_METER
        if self.meter_backwards or self.last_meter_wh < self.start_meter_wh:
            return self.integrated_wh, SOURCE_METER_BACKWARDS
        return float(self.last_meter_wh - self.start_meter_wh), SOURCE_METER

    def snapshot(self, end: datetime) -> Session:
        energy_wh, source = self.energy()
        return Session(self.start, end, energy_wh, min(self.pv_wh, energy_wh),
                       self.peak_current_a, source)


class SessionTracker:
    """Turns the wallbox's readings, one call per control cycle, into finished sessions."""

    def __init__(self, csv_path: Path | str, clock_wall: Callable[[], datetime] = _local_now, *,
                 sidecar_interval_s: float = 300.0):
        self.csv_path = Path(csv_path)
        self.sidecar_path = self.csv_path.with_name(SIDECAR_NAME)
        self.clock_wall = clock_wall
        self.sidecar_interval_s = sidecar_interval_s
        self.sidecar_writes = 0
        # "SD card full: ..." while a session cannot be written, for the screen; None when fine.
        self.storage_problem: str | None = None
        self._unwritten: list[Session] = []
        self._retry_at: datetime | None = None
        self._warned_for = 0
        self._open: _Open | None = None
        self._sidecar_at: datetime | None = None
        self._restore()

    @property
    def unwritten(self) -> tuple[Session, ...]:
        """Finished sessions not yet in sessions.csv (the card was full or read-only)."""
        return tuple(self._unwritten)

    @property
    def current(self) -> Session | None:
        """The open session so far (end = the last reading), or None when no car is plugged in."""
        if self._open is None:
            return None
        return self._open.snapshot(self._open.last_seen or self._open.start)

    def update(self, *, now: datetime | None = None, car_connected: bool | None, meter_wh: int | None,
               current_a: float, car_w: float, pv_to_car_w: float, dt_s: float) -> Session | None:
        """One control cycle's readings. Returns the finished session at unplug, else None.

        meter_wh: the wallbox's energy meter (Wh, counting up), None if not read this cycle.
        current_a: the current the car draws now (highest phase). car_w: the car's power now.
        pv_to_car_w: the part of car_w covered by PV surplus. dt_s: time since the last call.
        """
        now = now if now is not None else self.clock_wall()
        if self._unwritten:
            self.retry_unwritten(now)
        if car_connected is None:
            return None  # the wallbox did not answer: we know nothing about the plug
        ses = self._open
        if ses is None:
            if car_connected:
                self._open = _Open(start=now, start_meter_wh=meter_wh, last_meter_wh=meter_wh,
                                   peak_current_a=max(0.0, current_a), last_seen=now)
                log.info("Car plugged in: a charging session starts (meter %s Wh).",
                         meter_wh if meter_wh is not None else "not read")
                self._write_sidecar(now)
            return None

        self._take_meter(ses, meter_wh)
        if car_connected:
            dt_s = max(0.0, dt_s)
            car_w = max(0.0, car_w)
            ses.integrated_wh += car_w * dt_s / 3600.0
            ses.pv_wh += min(max(0.0, pv_to_car_w), car_w) * dt_s / 3600.0
            ses.peak_current_a = max(ses.peak_current_a, current_a)
            ses.last_seen = now
            ses.restored = False
            if self._sidecar_at is None or (now - self._sidecar_at).total_seconds() >= self.sidecar_interval_s:
                self._write_sidecar(now)
            return None

        # Unplugged. After a restart the car may have left while the service was down: the last
        # moment it was known to be connected is the honest end.
        end = (ses.last_seen or now) if ses.restored else now
        finished = ses.snapshot(end)
        self._open = None
        self._append(finished)
        self._remove_sidecar()
        log.info("Car unplugged: session of %.1f kWh (%.0f %% PV, %s) over %.0f min recorded in %s.",
                 finished.energy_wh / 1000, finished.pv_share * 100, finished.energy_source,
                 finished.duration_s / 60, self.csv_path)
        return finished

    @staticmethod
    def _take_meter(ses: _Open, meter_wh: int | None) -> None:
        if meter_wh is None:
            return
        if ses.last_meter_wh is not None and meter_wh < ses.last_meter_wh:
            if not ses.meter_backwards:
                log.warning("The wallbox's energy meter went backwards (%d Wh after %d Wh): this "
                            "session's energy is measured from the car's power instead.",
                            meter_wh, ses.last_meter_wh)
            ses.meter_backwards = True
        ses.last_meter_wh = meter_wh

    # -- persistence -----------------------------------------------------------------------

    def _write_sidecar(self, now: datetime) -> None:
        assert self._open is not None
        try:
            self.sidecar_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.sidecar_path, self._open.to_json())
            self.sidecar_writes += 1
        except OSError as e:
            log.warning("Cannot save the open charging session to %s (%s): a restart now would "
                        "lose its start. Check that %s is writable by the service.",
                        self.sidecar_path, e.strerror or e, self.sidecar_path.parent)
        self._sidecar_at = now

    def _remove_sidecar(self) -> None:
        try:
            self.sidecar_path.unlink()
            fsync_directory(self.sidecar_path.parent)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("Cannot remove %s (%s).", self.sidecar_path, e.strerror or e)
        self._sidecar_at = None

    def _restore(self) -> None:
        try:
            text = self.sidecar_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("Cannot read the open charging session in %s (%s): it is lost.",
                        self.sidecar_path, e.strerror or e)
            return
        try:
            ses = _Open.from_json(text)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("The open charging session in %s is damaged (%s): it is dropped.",
                        self.sidecar_path, e)
            self._remove_sidecar()
            return
        # A power cut between writing the CSV row and removing the sidecar must not count twice.
        # sessions.csv keeps whole seconds, the sidecar the exact start: compare at seconds.
        recorded = read_sessions(self.csv_path)
        start_s = ses.start.replace(microsecond=0)
        if any(r.start == start_s for r in recorded[-3:]):
            self._remove_sidecar()
            return
        self._open = ses
        ago_s = (self.clock_wall() - (ses.last_seen or ses.start)).total_seconds()
        log.info("Continuing the charging session that started %s (last seen %.0f min ago).",
                 ses.start.isoformat(timespec="seconds"), max(0.0, ago_s) / 60)

    def _append(self, session: Session) -> None:
        """Queues the finished session and writes every queued one; a failure keeps them queued."""
        self._unwritten.append(session)
        if not self._write_unwritten():
            self._retry_at = session.end

    def retry_unwritten(self, now: datetime | None = None) -> bool:
        """Writes the sessions a full or read-only card held back, at most once a minute.

        Called every control cycle (update() calls it); returns whether all are written now."""
        if not self._unwritten:
            return True
        now = now if now is not None else self.clock_wall()
        if self._retry_at is not None and (now - self._retry_at).total_seconds() < RETRY_INTERVAL_S:
            return False
        self._retry_at = now
        return self._write_unwritten()

    def _write_unwritten(self) -> bool:
        try:
            append_csv_rows(self.csv_path, CSV_FIELDS, [u.csv_row() for u in self._unwritten])
        except OSError as e:
            self.storage_problem = storage_problem(e, self.csv_path.parent)
            if len(self._unwritten) != self._warned_for:
                self._warned_for = len(self._unwritten)
                log.warning("Cannot record the charging session in %s (%s): %d session(s) kept in "
                            "memory and written when it works again. Check that %s is writable by "
                            "the service and has free space.", self.csv_path, e.strerror or e,
                            len(self._unwritten), self.csv_path.parent)
            return False
        if self._warned_for:
            log.info("Recorded %d charging session(s) held back while %s could not be written.",
                     len(self._unwritten), self.csv_path)
        self._unwritten.clear()
        self._warned_for = 0
        self.storage_problem = None
        return True


def read_sessions(csv_path: Path | str) -> list[Session]:
    """The recorded sessions, oldest first. Missing file: []. Damaged rows are skipped with a warning."""
    path = Path(csv_path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    sessions: list[Session] = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        try:
            sessions.append(Session(
                start=datetime.fromisoformat(row["start"]), end=datetime.fromisoformat(row["end"]),
                energy_wh=float(row["energy_wh"]), pv_energy_wh=float(row["pv_energy_wh"]),
                peak_current_a=float(row["peak_current_a"]),
                energy_source=row.get("energy_source") or SOURCE_METER))
        except (KeyError, TypeError, ValueError):
            log.warning("%s line %d is damaged and skipped: %s", path, reader.line_num,
                        ",".join(str(v) for v in row.values()))
    return sessions


class MonthTotal(NamedTuple):
    month: str          # "2026-11"
    sessions: int
    energy_kwh: float
    pv_kwh: float
    pv_share: float     # 0..1


def monthly_totals(sessions: Iterable[Session]) -> list[MonthTotal]:
    """Per calendar month of the session start (in the start's own time zone), oldest first."""
    by_month: dict[str, list[Session]] = {}
    for s in sessions:
        by_month.setdefault(s.start.strftime("%Y-%m"), []).append(s)
    totals = []
    for month in sorted(by_month):
        group = by_month[month]
        energy_wh = sum(s.energy_wh for s in group)
        pv_wh = sum(min(s.pv_energy_wh, s.energy_wh) for s in group)
        totals.append(MonthTotal(month, len(group), energy_wh / 1000, pv_wh / 1000,
                                 pv_wh / energy_wh if energy_wh > 0 else 0.0))
    return totals
