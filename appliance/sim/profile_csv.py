"""A measured day from a CSV file (`wallbox simulate --profile FILE.csv`): columns
timestamp,pv_w,house_w with a header row; see appliance/sim/day.py for the format."""

from __future__ import annotations

import csv
import math
from datetime import date, datetime, time
from pathlib import Path

from .day import SECONDS_PER_DAY, CarModel, Day


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file, the line and the fix."""


_COLUMNS = ("timestamp", "pv_w", "house_w")


def _parse_timestamp(text: str) -> tuple[float, date | None]:
    """Seconds after local midnight, and the date if the timestamp has one."""
    text = text.strip()
    try:
        return float(text), None
    except ValueError:
        pass
    try:
        t = time.fromisoformat(text)
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6, None
    except ValueError:
        pass
    dt = datetime.fromisoformat(text)  # raises ValueError with a reason
    return dt.hour * 3600 + dt.minute * 60 + dt.second + dt.microsecond / 1e6, dt.date()


def _row(where: str, row: list[str], col: dict[str, int], columns: int,
         day_date: date | None) -> tuple[tuple[float, float, float], date | None]:
    """One data row -> ((t_s, pv_w, house_w), the day's date so far); ProfileError names the fix."""
    if len(row) < columns:
        raise ProfileError(f"{where}: {len(row)} values but the header has {columns} "
                           f"columns; write timestamp,pv_w,house_w on every line")
    try:
        t_s, row_date = _parse_timestamp(row[col["timestamp"]])
    except ValueError:
        raise ProfileError(f"{where}: timestamp {row[col['timestamp']].strip()!r} is neither ISO "
                           "8601 (2026-06-21T12:00:00 or 12:00:00) nor seconds after midnight") from None
    if row_date is not None:
        if day_date is None:
            day_date = row_date
        elif row_date != day_date and not (row_date.toordinal() == day_date.toordinal() + 1
                                           and t_s == 0):
            raise ProfileError(f"{where}: date {row_date} differs from the first row's "
                               f"{day_date}; a profile covers one day")
        elif row_date != day_date:
            t_s = SECONDS_PER_DAY
    if not 0 <= t_s <= SECONDS_PER_DAY:
        raise ProfileError(f"{where}: timestamp {t_s:g} s lies outside the day "
                           f"(0 to {SECONDS_PER_DAY} s after midnight)")
    values = []
    for name in ("pv_w", "house_w"):
        cell = row[col[name]].strip()
        try:
            v = float(cell)
        except ValueError:
            raise ProfileError(f"{where}: {name} {cell!r} is not a number of watts") from None
        if not math.isfinite(v) or not 0 <= v <= 1_000_000:
            raise ProfileError(f"{where}: {name} {cell} is not a power from 0 to 1000000 W")
        values.append(v)
    return (t_s, values[0], values[1]), day_date


def load_profile_csv(path: str | Path, *, car: CarModel | None = None) -> Day:
    """A measured day from a CSV file with columns timestamp, pv_w, house_w (any order, header row).

    Rows must be in time order within one day. Values between two rows are interpolated linearly
    (second by second), held before the first and after the last row. Raises ProfileError naming
    the line and the problem for a missing column, a bad number, a negative or absurd power, a
    timestamp outside the day or out of order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file; give a CSV file with the columns "
                           "timestamp,pv_w,house_w") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ProfileError(f"{path}: the file is empty; the first line must be the header "
                           "timestamp,pv_w,house_w")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise ProfileError(f"{path}:1: the header lacks {', '.join(missing)}; the first line must "
                           f"name the columns timestamp,pv_w,house_w (found: {','.join(header)})")
    col = {c: header.index(c) for c in _COLUMNS}
    points: list[tuple[float, float, float]] = []
    day_date: date | None = None
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        point, day_date = _row(f"{path}:{line_no}", row, col, len(header), day_date)
        if points and point[0] <= points[-1][0]:
            raise ProfileError(f"{path}:{line_no}: timestamp {row[col['timestamp']].strip()} is not "
                               "after the previous row's; sort the rows by time")
        points.append(point)
    if not points:
        raise ProfileError(f"{path}: no data rows after the header; add lines "
                           "timestamp,pv_w,house_w")
    pv, house = _interpolate(points)
    return Day(path.stem, day_date or date(2026, 6, 21), 0, SECONDS_PER_DAY, pv, house,
               car or CarModel(), f"measured day from {path.name} ({len(points)} rows)")


def _interpolate(points: list[tuple[float, float, float]]) -> tuple[list[float], list[float]]:
    pv, house = [], []
    k = 0
    for t in range(SECONDS_PER_DAY):
        while k + 1 < len(points) and points[k + 1][0] <= t:
            k += 1
        t0, p0, h0 = points[k]
        if t < t0 or k + 1 == len(points):
            pv.append(p0)
            house.append(h0)
            continue
        t1, p1, h1 = points[k + 1]
        f = (t - t0) / (t1 - t0)
        pv.append(p0 + (p1 - p0) * f)
        house.append(h0 + (h1 - h0) * f)
    return pv, house
