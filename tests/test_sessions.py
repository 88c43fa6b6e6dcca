"""Charging sessions from wallbox readings: meter energy, PV share, restarts, the CSV file."""

from __future__ import annotations

import argparse
import csv
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from appliance.cli_control import register
from appliance.sessions import (SOURCE_METER, SOURCE_METER_BACKWARDS, SOURCE_NO_METER, Session,
                                SessionTracker, monthly_totals, read_sessions)

TZ = timezone(timedelta(hours=1))
T0 = datetime(2026, 11, 3, 17, 0, 0, tzinfo=TZ)
CYCLE_S = 5.0


class Drive:
    """Feeds a tracker one control cycle at a time, like the service does."""

    def __init__(self, tracker: SessionTracker, start: datetime = T0, meter_wh: int = 1_000_000):
        self.tracker = tracker
        self.now = start
        self.meter_wh = float(meter_wh)
        self.finished: list[Session] = []

    def cycles(self, n: int, *, connected: bool | None, car_w: float = 0.0, pv_to_car_w: float = 0.0,
               current_a: float = 0.0, meter: bool = True, meter_offset_wh: int = 0) -> None:
        for _ in range(n):
            self.now += timedelta(seconds=CYCLE_S)
            if connected:
                self.meter_wh += car_w * CYCLE_S / 3600
            result = self.tracker.update(
                now=self.now, car_connected=connected,
                meter_wh=int(self.meter_wh) + meter_offset_wh if meter else None,
                current_a=current_a, car_w=car_w, pv_to_car_w=pv_to_car_w, dt_s=CYCLE_S)
            if result is not None:
                self.finished.append(result)


def tracker_at(tmp_path, **kw) -> SessionTracker:
    return SessionTracker(tmp_path / "sessions.csv", clock_wall=lambda: T0, **kw)


def test_a_session_from_plug_in_to_unplug(tmp_path):
    d = Drive(tracker_at(tmp_path))
    d.cycles(10, connected=False)
    assert d.tracker.current is None
    d.cycles(1, connected=True)                      # plug-in, not charging yet
    start = d.now
    d.cycles(720, connected=True, car_w=11_000, pv_to_car_w=2_750, current_a=16)   # 1 h
    d.cycles(720, connected=True, car_w=7_360, pv_to_car_w=7_360, current_a=10.7)  # 1 h all PV
    assert d.tracker.current is not None and d.tracker.current.start == start
    d.cycles(1, connected=False)
    assert len(d.finished) == 1 and d.tracker.current is None
    s = d.finished[0]
    assert s.start == start and s.end == d.now
    assert s.duration_s == pytest.approx(1441 * CYCLE_S)
    assert s.energy_source == SOURCE_METER
    assert s.energy_wh == pytest.approx(18_360, abs=2)   # the meter's difference (whole Wh)
    assert s.pv_energy_wh == pytest.approx(2_750 + 7_360, abs=1)
    assert s.pv_share == pytest.approx(10_110 / 18_360, abs=0.001)
    assert s.peak_current_a == 16
    # Recorded on disk, readable back.
    assert read_sessions(tmp_path / "sessions.csv") == [
        Session(s.start, s.end, round(s.energy_wh), round(s.pv_energy_wh), 16.0, SOURCE_METER)]


def test_unknown_plug_state_neither_starts_nor_ends(tmp_path):
    d = Drive(tracker_at(tmp_path))
    d.cycles(5, connected=None, car_w=3000)
    assert d.tracker.current is None
    d.cycles(1, connected=True)
    d.cycles(12, connected=True, car_w=4_140, current_a=6)
    d.cycles(20, connected=None)         # the wallbox stops answering for a while
    assert d.tracker.current is not None and not d.finished
    d.cycles(12, connected=True, car_w=4_140, current_a=6)
    d.cycles(1, connected=False)
    assert len(d.finished) == 1
    assert d.finished[0].duration_s == pytest.approx(45 * CYCLE_S)  # from plug-in to unplug


def test_missing_meter_falls_back_to_integration_and_says_so(tmp_path):
    d = Drive(tracker_at(tmp_path))
    d.cycles(1, connected=True, meter=False)
    d.cycles(720, connected=True, car_w=4_000, pv_to_car_w=1_000, current_a=6, meter=False)
    d.cycles(1, connected=False, meter=False)
    s = d.finished[0]
    assert s.energy_source == SOURCE_NO_METER
    assert s.energy_wh == pytest.approx(4_000, rel=1e-9)
    assert s.pv_share == pytest.approx(0.25)
    with open(tmp_path / "sessions.csv") as rows:
        row = list(csv.DictReader(rows))[0]
    assert row["energy_source"] == "integrated (no meter reading)"


def test_meter_going_backwards_falls_back(tmp_path, caplog):
    d = Drive(tracker_at(tmp_path))
    d.cycles(1, connected=True)
    d.cycles(360, connected=True, car_w=11_000, current_a=16)
    with caplog.at_level(logging.WARNING, logger="appliance.sessions"):
        d.cycles(360, connected=True, car_w=11_000, current_a=16, meter_offset_wh=-900_000)  # reset
    d.cycles(1, connected=False, meter_offset_wh=-900_000)
    s = d.finished[0]
    assert s.energy_source == SOURCE_METER_BACKWARDS
    assert s.energy_wh == pytest.approx(11_000, rel=1e-9)
    assert "went backwards" in caplog.text


def test_restart_mid_session_keeps_start_and_meter(tmp_path):
    first = tracker_at(tmp_path, sidecar_interval_s=300)
    d = Drive(first)
    d.cycles(1, connected=True)
    start, start_meter = d.now, int(d.meter_wh)
    assert first.sidecar_writes == 1                 # written at plug-in
    d.cycles(720, connected=True, car_w=11_000, pv_to_car_w=5_500, current_a=16)   # 1 h
    # Every 5 min, not every 5 s cycle.
    assert first.sidecar_writes == 1 + 12
    assert (tmp_path / "session_open.json").exists()

    # The service restarts (a new tracker, same files) while the car keeps charging.
    second = tracker_at(tmp_path)
    assert second.current is not None and second.current.start == start
    d.tracker = second
    d.cycles(720, connected=True, car_w=11_000, pv_to_car_w=0, current_a=16)
    d.cycles(1, connected=False)
    s = d.finished[0]
    assert s.start == start
    assert s.energy_source == SOURCE_METER
    assert s.energy_wh == pytest.approx(int(d.meter_wh) - start_meter, abs=1)
    assert s.energy_wh == pytest.approx(22_000, abs=2)
    # PV integrated up to the last sidecar write before the restart, then on.
    assert 5_000 <= s.pv_energy_wh <= 5_500
    assert not (tmp_path / "session_open.json").exists()
    assert len(read_sessions(tmp_path / "sessions.csv")) == 1


def test_car_left_while_the_service_was_down(tmp_path):
    d = Drive(tracker_at(tmp_path, sidecar_interval_s=300))
    d.cycles(1, connected=True)
    d.cycles(120, connected=True, car_w=11_000, current_a=16)     # 10 min: sidecar at +5 and +10 min
    last_saved = d.now
    d.cycles(30, connected=True, car_w=11_000, current_a=16)      # the power fails after this
    d.tracker = tracker_at(tmp_path)
    d.now += timedelta(hours=3)
    d.cycles(1, connected=False)
    s = d.finished[0]
    assert s.end == last_saved          # the last moment it was known to be plugged in
    assert s.energy_wh == pytest.approx(150 * CYCLE_S * 11_000 / 3600, abs=2)  # the meter knows all


def test_not_recorded_twice_after_a_cut_between_row_and_sidecar(tmp_path):
    d = Drive(tracker_at(tmp_path))
    d.cycles(1, connected=True)
    sidecar = (tmp_path / "session_open.json")
    d.cycles(10, connected=True, car_w=3_000, current_a=6)
    saved = sidecar.read_text()
    d.cycles(1, connected=False)
    sidecar.write_text(saved)          # as if the power failed before the sidecar was removed
    again = tracker_at(tmp_path)
    assert again.current is None
    assert not sidecar.exists()
    assert len(read_sessions(tmp_path / "sessions.csv")) == 1


def test_damaged_sidecar_is_dropped_with_a_warning(tmp_path, caplog):
    (tmp_path / "session_open.json").write_text("{broken")
    with caplog.at_level(logging.WARNING, logger="appliance.sessions"):
        t = tracker_at(tmp_path)
    assert t.current is None
    assert "session_open.json" in caplog.text


def test_header_once_and_rows_appended(tmp_path):
    for i in range(3):
        d = Drive(tracker_at(tmp_path), start=T0 + timedelta(days=i))
        d.cycles(1, connected=True)
        d.cycles(10, connected=True, car_w=4_000, current_a=6)
        d.cycles(1, connected=False)
    lines = (tmp_path / "sessions.csv").read_text().splitlines()
    assert lines[0] == "start,end,energy_wh,pv_energy_wh,peak_current_a,energy_source"
    assert len(lines) == 4 and sum(line.startswith("start,") for line in lines) == 1


def test_damaged_rows_are_skipped(tmp_path, caplog):
    path = tmp_path / "sessions.csv"
    path.write_text("start,end,energy_wh,pv_energy_wh,peak_current_a,energy_source\n"
                    "2026-11-01T10:00:00+01:00,2026-11-01T12:00:00+01:00,8000,4000,16.0,meter\n"
                    "2026-11-02T10:00:00+01:00,garbage\n"
                    "2026-11-03T10:00:00+01:00,2026-11-03T11:00:00+01:00,5000,0,10.0,meter\n")
    with caplog.at_level(logging.WARNING, logger="appliance.sessions"):
        sessions = read_sessions(path)
    assert [s.energy_wh for s in sessions] == [8000, 5000]
    assert "line 3" in caplog.text
    assert read_sessions(tmp_path / "none.csv") == []


def test_monthly_totals():
    def s(day: datetime, kwh: float, pv_kwh: float) -> Session:
        return Session(day, day + timedelta(hours=2), kwh * 1000, pv_kwh * 1000, 16.0)

    totals = monthly_totals([
        s(datetime(2026, 12, 1, 9, tzinfo=TZ), 10, 0),
        s(datetime(2026, 11, 3, 9, tzinfo=TZ), 20, 10),
        s(datetime(2026, 11, 30, 23, tzinfo=TZ), 10, 10),
    ])
    assert [t.month for t in totals] == ["2026-11", "2026-12"]
    nov = totals[0]
    assert nov == ("2026-11", 2, pytest.approx(30.0), pytest.approx(20.0), pytest.approx(2 / 3))
    assert totals[1].pv_share == 0.0
    assert monthly_totals([]) == []


def test_pv_share_is_bounded():
    t = datetime(2026, 6, 1, tzinfo=TZ)
    assert Session(t, t, 0, 0, 0).pv_share == 0.0
    assert Session(t, t, 100, 130, 6).pv_share == 1.0


# -- wallbox sessions ----------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wallbox")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _record_sessions(state_dir):
    tz = timezone(timedelta(hours=1))
    tracker = SessionTracker(state_dir / "sessions.csv")
    plan = [  # start, hours, car W, PV W, meter?
        (datetime(2026, 10, 30, 18, 0, tzinfo=tz), 2.0, 11_000, 0, True),
        (datetime(2026, 11, 2, 9, 0, tzinfo=tz), 3.0, 7_000, 7_000, True),
        (datetime(2026, 11, 5, 22, 30, tzinfo=tz), 4.0, 4_140, 0, False),
    ]
    meter = 500_000.0
    for start, hours, car_w, pv_w, has_meter in plan:
        now = start
        tracker.update(now=now, car_connected=True, meter_wh=int(meter) if has_meter else None,
                       current_a=0, car_w=0, pv_to_car_w=0, dt_s=60)
        for _ in range(int(hours * 60)):
            now += timedelta(minutes=1)
            meter += car_w / 60
            tracker.update(now=now, car_connected=True, meter_wh=int(meter) if has_meter else None,
                           current_a=car_w / 690, car_w=car_w, pv_to_car_w=pv_w, dt_s=60)
        tracker.update(now=now + timedelta(minutes=1), car_connected=False,
                       meter_wh=int(meter) if has_meter else None, current_a=0, car_w=0, pv_to_car_w=0,
                       dt_s=60)


@pytest.fixture
def berlin_time(monkeypatch):
    """Local time is Europe/Berlin for the test (the table shows local times), restored after."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_sessions_table_and_monthly_totals(tmp_path, capsys, berlin_time):
    _record_sessions(tmp_path)
    assert run(["sessions", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["start", "end", "duration", "kWh", "PV", "%", "peak", "A"]
    assert out[1].split() == ["2026-10-30", "18:00", "20:01", "2", "h", "01", "min", "22.0", "0", "15.9"]
    assert out[2].split() == ["2026-11-02", "09:00", "12:01", "3", "h", "01", "min", "21.0", "100", "10.1"]
    # Integrated energy is marked, and the mark explained.
    assert out[3].split() == ["2026-11-05", "22:30", "2026-11-06", "02:31", "4", "h", "01", "min",
                              "16.6", "0", "6.0", "*"]
    assert out[4].startswith("* energy from the car's power")
    assert out[6].split() == ["month", "sessions", "kWh", "PV", "kWh", "PV", "%"]
    assert out[7].split() == ["2026-10", "1", "22.0", "0.0", "0"]
    assert out[8].split() == ["2026-11", "2", "37.6", "21.0", "56"]

    config = tmp_path / "w.toml"
    config.write_text(f'[state]\ndir = "{tmp_path}"\n')
    assert run(["sessions", "--config", str(config), "--month", "2026-10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[1].startswith("2026-10-30") and out[4].startswith("2026-10 ")


def test_sessions_when_none_recorded(tmp_path, capsys):
    assert run(["sessions", "--state-dir", str(tmp_path)]) == 0
    assert "No charging sessions recorded yet" in capsys.readouterr().out
    (tmp_path / "sessions.csv").write_text("start,end,energy_wh,pv_energy_wh,peak_current_a,energy_source\n")
    assert run(["sessions", "--state-dir", str(tmp_path), "--month", "2026-01"]) == 0
    assert capsys.readouterr().out == "No charging sessions in 2026-01.\n"




def test_bad_month_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        run(["sessions", "--month", "11/2026"])
    assert "YYYY-MM" in capsys.readouterr().err
