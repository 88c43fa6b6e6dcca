"""History: per-minute averages, the 15-minute write interval (stepped clock), atomic day files."""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, timezone

from appliance.history import HistoryStore, read_day
from appliance.loglines import LogRing

UTC = timezone.utc
START_S = datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float = START_S):
        self.t = t

    def __call__(self) -> float:
        return self.t


def feed(store: HistoryStore, clock: Clock, seconds: int, **figures) -> None:
    for _ in range(seconds):
        store.add(**{"pv_w": 5000, "house_w": 600, "car_w": 11000, "allowance_w": 11000, **figures})
        clock.t += 1


def test_figures_are_averaged_per_minute_and_unknown_stays_unknown(tmp_path):
    clock = Clock()
    store = HistoryStore(tmp_path, clock=clock, tz=UTC)
    feed(store, clock, 30, pv_w=4000)
    feed(store, clock, 30, pv_w=6000, car_w=None)
    feed(store, clock, 10, pv_w=1000)
    minutes = store.day()
    assert [m.minute for m in minutes] == ["10:00", "10:01"]
    assert minutes[0].pv_w == 5000 and minutes[0].car_w == 11000 and minutes[0].battery_w is None
    assert minutes[1].pv_w == 1000  # the open minute is shown too


def test_the_day_file_is_written_at_most_every_15_minutes_and_on_flush(tmp_path):
    clock = Clock()
    store = HistoryStore(tmp_path, clock=clock, tz=UTC)
    path = tmp_path / "2026-06-21.csv"
    feed(store, clock, 14 * 60 + 59)
    assert not path.exists() and store.writes == 0
    feed(store, clock, 2)
    assert path.exists() and store.writes == 1
    assert len(read_day(path)) == 15
    feed(store, clock, 14 * 60)
    assert store.writes == 1  # no second write within the interval
    feed(store, clock, 61)
    assert store.writes == 2
    store.flush()
    assert store.writes == 3 and len(read_day(path)) == 31


def test_a_write_replaces_the_file_atomically_and_leaves_no_temp_file(tmp_path):
    clock = Clock()
    store = HistoryStore(tmp_path, clock=clock, tz=UTC, write_interval_s=60)
    feed(store, clock, 125)
    path = tmp_path / "2026-06-21.csv"
    inode_before = os.stat(path).st_ino
    feed(store, clock, 65)
    assert os.stat(path).st_ino != inode_before  # a new file renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-06-21.csv"]
    lines = path.read_text().splitlines()
    assert lines[0] == "minute,pv_w,house_w,car_w,allowance_w,battery_w"
    assert lines[1] == "10:00,5000,600,11000,11000,"


def test_a_stray_half_written_temp_file_does_not_hide_the_last_good_day(tmp_path):
    (tmp_path / "2026-06-21.csv").write_text("minute,pv_w,house_w,car_w,allowance_w,battery_w\n09:00,1,2,3,4,\n")
    (tmp_path / ".2026-06-21.csv.tmp").write_text("minute,pv_w,hou")  # a write cut by a power cut
    clock = Clock()
    store = HistoryStore(tmp_path, clock=clock, tz=UTC)
    feed(store, clock, 61)
    assert [m.minute for m in store.day()] == ["09:00", "10:00", "10:01"]


def test_a_restart_continues_the_day_and_a_new_day_starts_a_new_file(tmp_path):
    clock = Clock(datetime(2026, 6, 21, 23, 58, tzinfo=UTC).timestamp())
    store = HistoryStore(tmp_path, clock=clock, tz=UTC)
    feed(store, clock, 60, battery_w=-800)
    store.flush()
    again = HistoryStore(tmp_path, clock=clock, tz=UTC)
    feed(again, clock, 120, battery_w=1200)
    assert (tmp_path / "2026-06-21.csv").exists()  # written at the day change
    assert [m.minute for m in again.day(date(2026, 6, 21))] == ["23:58", "23:59"]
    assert again.day(date(2026, 6, 21))[0].battery_w == -800
    assert [m.minute for m in again.day()] == ["00:00"]
    assert again.days() == [date(2026, 6, 21), date(2026, 6, 22)]


def test_days_older_than_the_kept_ones_are_removed(tmp_path):
    for day in ("2026-06-10", "2026-06-15", "2026-06-20"):
        (tmp_path / f"{day}.csv").write_text("minute,pv_w,house_w,car_w,allowance_w,battery_w\n")
    clock = Clock()
    store = HistoryStore(tmp_path, clock=clock, tz=UTC, keep_days=7, write_interval_s=60)
    feed(store, clock, 125)
    assert sorted(p.stem for p in tmp_path.glob("*.csv")) == ["2026-06-15", "2026-06-20", "2026-06-21"]


def test_an_unwritable_directory_is_logged_and_the_chart_keeps_working(tmp_path, caplog):
    blocker = tmp_path / "history"
    blocker.write_text("a file where the directory should be")
    clock = Clock()
    store = HistoryStore(blocker, clock=clock, tz=UTC, write_interval_s=60)
    with caplog.at_level(logging.WARNING):
        feed(store, clock, 125)
    assert "cannot be written" in caplog.text and "writable" in caplog.text
    assert len(store.day()) == 3


def test_the_log_ring_keeps_only_the_newest_lines():
    ring = LogRing(capacity=3)
    logger = logging.getLogger("test.ring")
    logger.addHandler(ring)
    logger.setLevel(logging.INFO)
    try:
        for i in range(5):
            logger.info("line %d", i)
        logger.debug("not kept")
    finally:
        logger.removeHandler(ring)
    assert [line["message"] for line in ring.lines()] == ["line 2", "line 3", "line 4"]
    assert ring.lines(1)[0]["level"] == "INFO"
