"""Per-minute history of the power figures, for today's chart on the web page.

The control cycle hands in its figures every second or so; they are averaged per minute and kept
in memory for the current day. The day is written to the state directory as one small CSV file
(`history/YYYY-MM-DD.csv`, at most 1440 rows, about 40 kB) at most every `write_interval_s`
(15 minutes), at the day change and on stop. Each write replaces the file atomically (temp file,
fsync, rename), so a power cut leaves the previous version and loses at most the last interval,
and the SD card sees about a hundred small writes a day instead of one a second. Files older
than `keep_days` are removed.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Callable

from .state import atomic_write_text

log = logging.getLogger(__name__)

FIELDS = ("minute", "pv_w", "house_w", "car_w", "allowance_w", "battery_w")
WRITE_INTERVAL_S = 15 * 60
KEEP_DAYS = 7


@dataclass(frozen=True)
class MinuteFigures:
    """The averages over one minute; None where the figure was not known in that minute."""

    minute: str          # local "HH:MM"
    pv_w: int | None
    house_w: int | None
    car_w: int | None
    allowance_w: int | None
    battery_w: int | None  # + discharging, - charging (as Fronius P_Akku); None: no battery

    def row(self) -> list:
        return [self.minute, self.pv_w, self.house_w, self.car_w, self.allowance_w, self.battery_w]


class _Sums:
    """Running sums for one minute; a figure that was None in every sample stays None."""

    def __init__(self) -> None:
        self.total = [0.0] * 5
        self.count = [0] * 5

    def add(self, values: tuple) -> None:
        for i, v in enumerate(values):
            if v is not None and isinstance(v, (int, float)) and math.isfinite(v):
                self.total[i] += v
                self.count[i] += 1

    def averages(self) -> list[int | None]:
        return [round(t / c) if c else None for t, c in zip(self.total, self.count)]


class HistoryStore:
    """Collects per-minute averages and keeps them on the card as one CSV file per day.

    Thread-safe: the control thread calls `add`, the web server calls `day`.
    """

    def __init__(self, directory: Path | str, *, clock: Callable[[], float] = time.time,
                 tz: tzinfo | None = None, write_interval_s: float = WRITE_INTERVAL_S,
                 keep_days: int = KEEP_DAYS):
        self.directory = Path(directory)
        self.clock = clock
        self.tz = tz
        self.write_interval_s = write_interval_s
        self.keep_days = keep_days
        self._lock = threading.Lock()
        self._day: date | None = None
        self._minutes: dict[str, MinuteFigures] = {}
        self._open_minute: str | None = None
        self._sums = _Sums()
        self._last_write_s: float | None = None
        self._dirty = False
        self.writes = 0

    def _local(self, epoch_s: float) -> datetime:
        return datetime.fromtimestamp(epoch_s, self.tz)

    def path_for(self, day: date) -> Path:
        return self.directory / f"{day.isoformat()}.csv"

    def add(self, *, pv_w: float | None, house_w: float | None, car_w: float | None,
            allowance_w: float | None, battery_w: float | None = None) -> None:
        """One sample of the figures now (watts); writes the day file when the interval is up."""
        now_s = self.clock()
        local = self._local(now_s)
        with self._lock:
            if self._day is None:
                self._load_day(local.date())
            elif local.date() != self._day:
                self._close_minute()
                self._write_locked(now_s)
                self._day, self._minutes, self._dirty = local.date(), {}, False
            minute = local.strftime("%H:%M")
            if minute != self._open_minute:
                self._close_minute()
                self._open_minute = minute
            self._sums.add((pv_w, house_w, car_w, allowance_w, battery_w))
            if self._last_write_s is None:
                self._last_write_s = now_s  # the first write comes one interval after the start
            if self._dirty and now_s - self._last_write_s >= self.write_interval_s:
                self._write_locked(now_s)

    def _close_minute(self) -> None:
        if self._open_minute is None:
            return
        self._minutes[self._open_minute] = MinuteFigures(self._open_minute, *self._sums.averages())
        self._open_minute, self._sums, self._dirty = None, _Sums(), True

    def flush(self) -> None:
        """Writes the day now, with the minute still open (on stop)."""
        with self._lock:
            if self._open_minute is not None:
                self._minutes[self._open_minute] = MinuteFigures(self._open_minute, *self._sums.averages())
                self._dirty = True
            if self._dirty:
                self._write_locked(self.clock())

    def _write_locked(self, now_s: float) -> None:
        self._last_write_s = now_s
        if self._day is None:
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for key in sorted(self._minutes):
            writer.writerow(["" if v is None else v for v in self._minutes[key].row()])
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path_for(self._day), out.getvalue())
        except OSError as e:
            log.warning("The chart history cannot be written to %s (%s): check that the state "
                        "directory is writable by the service; the chart keeps today in memory.",
                        self.directory, e.strerror or e)
            return
        self._dirty = False
        self.writes += 1
        self._remove_old(self._day)

    def _remove_old(self, today: date) -> None:
        for path in self.directory.glob("????-??-??.csv"):
            try:
                age_days = (today - date.fromisoformat(path.stem)).days
            except ValueError:
                continue
            if age_days >= self.keep_days:
                path.unlink(missing_ok=True)

    def _load_day(self, day: date) -> None:
        """After a restart the day's chart continues from what the card holds."""
        self._day = day
        self._minutes = {m.minute: m for m in read_day(self.path_for(day))}

    def day(self, day: date | None = None) -> list[MinuteFigures]:
        """The minutes of `day` (default today), oldest first; the open minute included."""
        with self._lock:
            today = self._day or self._local(self.clock()).date()
            if day is None or day == today:
                minutes = dict(self._minutes)
                if self._open_minute is not None:
                    minutes[self._open_minute] = MinuteFigures(self._open_minute, *self._sums.averages())
                return [minutes[k] for k in sorted(minutes)]
        return read_day(self.path_for(day))

    def today(self) -> date:
        return self._local(self.clock()).date()

    def days(self) -> list[date]:
        """The days the card holds, oldest first (today included once it is written)."""
        found = set()
        for path in self.directory.glob("????-??-??.csv"):
            try:
                found.add(date.fromisoformat(path.stem))
            except ValueError:
                pass
        if self._day is not None:
            found.add(self._day)
        return sorted(found)


def _number(text: str) -> int | None:
    return None if text == "" else int(float(text))


def read_day(path: Path) -> list[MinuteFigures]:
    """A day file's minutes; a missing file is an empty day, damaged rows are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as e:
        log.warning("The chart history %s cannot be read (%s); the chart starts empty.", path, e.strerror or e)
        return []
    minutes = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            minutes.append(MinuteFigures(row["minute"], *(_number(row[f]) for f in FIELDS[1:])))
        except (KeyError, TypeError, ValueError):
            log.warning("%s: a damaged line is skipped: %s", path, row)
    return minutes
