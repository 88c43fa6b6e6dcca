"""Grid operator dimming (section 14a) through the GPIO seam, and the dimmed allowance in every mode."""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from appliance.dimming import (ActiveLevel, DimmingMonitor, DimmingPeriod, DimmingSettings,
                               DimmingStatus, FakeDimmingPin, allowance_w, append_period)
from appliance.policy.control import MODES, Controller, Inputs, PolicySettings

T0 = datetime(2026, 6, 21, 12, 0, tzinfo=timezone(timedelta(hours=2)))
DIMMED = DimmingSettings(pin=17, active_level=ActiveLevel.LOW, dimmed_allowance_w=4200.0)


def monitor(tmp_path, settings=DIMMED, high=True):
    pin = FakeDimmingPin(high=high)
    return DimmingMonitor(settings, pin, tmp_path), pin


def test_closed_contact_dims_and_open_contact_restores(tmp_path):
    mon, pin = monitor(tmp_path)
    assert mon.poll(T0) == DimmingStatus(configured=True, active=False)
    pin.set_high(False)  # the relay closes the input to ground
    status = mon.poll(T0 + timedelta(seconds=1))
    assert status.active and status.since == T0 + timedelta(seconds=1)
    assert allowance_w(11000.0, status, DIMMED) == 4200.0
    pin.set_high(True)
    status = mon.poll(T0 + timedelta(seconds=61))
    assert not status.active and allowance_w(11000.0, status, DIMMED) == 11000.0


def test_active_high_contact(tmp_path):
    mon, pin = monitor(tmp_path, dataclasses.replace(DIMMED, active_level=ActiveLevel.HIGH),
                       high=False)
    assert not mon.poll(T0).active
    pin.set_high(True)
    assert mon.poll(T0).active


def test_dimmed_allowance_never_raises_a_smaller_one():
    status = DimmingStatus(configured=True, active=True)
    assert allowance_w(3000.0, status, DIMMED) == 3000.0


def test_no_pin_configured_means_no_dimming(tmp_path):
    mon = DimmingMonitor(DimmingSettings(pin=0), None, tmp_path)
    assert mon.poll(T0) == DimmingStatus(configured=False, active=False)


def test_edge_wakes_the_cycle_and_lowers_the_current_in_that_cycle(tmp_path):
    """The runtime's inbox gets an event on the edge; the cycle that handles it polls the input
    and the policy lowers the current in that very decision (safety rule 4)."""
    mon, pin = monitor(tmp_path)
    inbox: list[str] = []
    mon.attach(lambda: inbox.append("dimming"))
    base = PolicySettings(allowance_w=11000.0)
    controller = Controller(base)
    inp = Inputs(now_s=100.0, mode="fast", car_connected=True)
    assert controller.decide(inp).setpoint_a == 15
    pin.set_high(False)
    assert inbox == ["dimming"]
    # The cycle handling the event:
    status = mon.poll(T0)
    controller.cfg = dataclasses.replace(base, allowance_w=allowance_w(11000.0, status, DIMMED))
    decision = controller.decide(dataclasses.replace(inp, now_s=100.5))
    assert decision.setpoint_a == 6  # 4200 W / (3 x 230 V) = 6.08 A
    assert decision.setpoint_a * 3 * 230 <= 4200


def test_each_period_is_logged_and_kept_in_the_csv(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="appliance.dimming")
    mon, pin = monitor(tmp_path)
    for start_min, minutes in ((0, 30), (120, 5)):
        pin.set_high(False)
        mon.poll(T0 + timedelta(minutes=start_min))
        pin.set_high(True)
        mon.poll(T0 + timedelta(minutes=start_min + minutes))
    rows = (tmp_path / "dimming.csv").read_text().splitlines()
    assert rows == ["start,end,duration_s",
                    "2026-06-21T12:00:00+02:00,2026-06-21T12:30:00+02:00,1800",
                    "2026-06-21T14:00:00+02:00,2026-06-21T14:05:00+02:00,300"]
    text = caplog.text
    assert "dimming started at 2026-06-21T12:00:00+02:00" in text
    assert "began at 2026-06-21T14:00:00+02:00 and lasted 300 s" in text


def test_unreadable_input_counts_as_dimmed_and_is_a_problem(tmp_path, caplog):
    mon, pin = monitor(tmp_path)
    pin.broken = True
    status = mon.poll(T0)
    assert status.active and status.problem
    assert "BCM17 cannot be read" in status.problem and "Check the wire" in status.problem
    assert allowance_w(11000.0, status, DIMMED) == 4200.0
    assert "cannot be read" in caplog.text
    pin.broken = False
    status = mon.poll(T0 + timedelta(seconds=5))
    assert not status.active and status.problem is None
    # The evidence file holds only what the contact showed, not the broken spell.
    assert not (tmp_path / "dimming.csv").exists()


def test_a_failed_append_leaves_the_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "dimming.csv"
    append_period(path, DimmingPeriod(T0, T0 + timedelta(minutes=10)))
    before = path.read_bytes()

    def disk_full(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        append_period(path, DimmingPeriod(T0 + timedelta(hours=1), T0 + timedelta(hours=2)))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["dimming.csv"]


def test_a_failed_append_is_reported_not_raised(tmp_path, monkeypatch, caplog):
    mon, pin = monitor(tmp_path)
    monkeypatch.setattr(os, "fsync", lambda _fd: (_ for _ in ()).throw(OSError(28, "full")))
    pin.set_high(False)
    mon.poll(T0)
    pin.set_high(True)
    assert not mon.poll(T0 + timedelta(minutes=1)).active
    assert "could not be added" in caplog.text and "free space" in caplog.text


def test_close_records_a_running_period(tmp_path):
    mon, pin = monitor(tmp_path)
    pin.set_high(False)
    mon.poll(T0)
    mon.close(T0 + timedelta(minutes=3))
    assert pin.closed
    assert (tmp_path / "dimming.csv").read_text().splitlines()[-1].endswith(",180")


@hsettings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(
    st.sampled_from(MODES),
    st.booleans(),                                        # contact active
    st.booleans(),                                        # input broken
    st.one_of(st.none(), st.floats(-1e4, 3e4)),           # PV
    st.one_of(st.none(), st.floats(-3e4, 3e4)),           # grid
    st.floats(0, 2.5e4),                                  # car power
    st.sampled_from([True, False, None]),                 # car connected
    st.floats(0.0, 90.0),                                 # age of the readings
), min_size=1, max_size=15))
def test_dimmed_allowance_holds_in_every_mode(steps):
    """Safety rule 2 with the dimmed allowance: setpoint x phases x voltage <= 4200 W + fresh PV
    in every cycle the input is active (or unreadable), whatever the mode and the readings."""
    mon = DimmingMonitor(DIMMED, FakeDimmingPin(), "/nonexistent-never-written")
    pin = mon.pin
    base = PolicySettings(allowance_w=11000.0)
    controller = Controller(base)
    now_s = 1000.0
    mon._finish = lambda period: None  # the evidence file is not the subject here
    for mode, active, broken, pv_w, grid_w, car_w, connected, age_s in steps:
        now_s += 1.0
        pin.broken = broken
        pin.set_high(not active)
        status = mon.poll(T0 + timedelta(seconds=now_s))
        controller.cfg = dataclasses.replace(base, allowance_w=allowance_w(11000.0, status, DIMMED))
        at_s = now_s - age_s
        d = controller.decide(Inputs(now_s=now_s, mode=mode, pv_w=pv_w, pv_at_s=at_s, grid_w=grid_w,
                                     grid_at_s=at_s, car_w=car_w, car_connected=connected))
        fresh_pv_w = max(0.0, pv_w) if pv_w is not None and age_s < base.stale_after_s else 0.0
        if active or broken:
            assert d.setpoint_a * 3 * 230.0 <= 4200.0 + fresh_pv_w + 1e-6


def test_an_input_that_cannot_be_opened_counts_as_dimmed(tmp_path):
    def no_gpio(pin):
        raise OSError(f"BCM{pin}: no GPIO library on this computer")

    mon = DimmingMonitor.open(DIMMED, tmp_path, opener=no_gpio)
    status = mon.poll(T0)
    assert status.configured and status.active and "no GPIO library" in status.problem
    assert not DimmingMonitor.open(DimmingSettings(pin=0), tmp_path, opener=no_gpio).poll(T0).active


def test_settings_from_the_dimming_table():
    from appliance.config import parse_settings

    raw = {"fronius": {"ftp_password": "x"},
           "dimming": {"pin": 5, "active_level": "high", "dimmed_allowance_w": 3000}}
    assert DimmingSettings.from_settings(parse_settings(raw)) == DimmingSettings(
        pin=5, active_level=ActiveLevel.HIGH, dimmed_allowance_w=3000.0)


def test_a_period_the_card_refused_is_kept_and_written_later(tmp_path):
    blocker = tmp_path / "card"
    blocker.write_text("not a directory")          # the state directory cannot be made
    mon, pin = monitor(blocker / "state")
    mon.poll(T0)
    pin.set_high(False)
    mon.poll(T0 + timedelta(seconds=1))
    pin.set_high(True)
    mon.poll(T0 + timedelta(minutes=5, seconds=1))   # the period ends; the write fails
    blocker.unlink()
    mon.poll(T0.replace(second=30) + timedelta(minutes=6))   # not yet: once a minute
    assert not (blocker / "state" / "dimming.csv").exists()
    mon.poll(T0.replace(second=0) + timedelta(minutes=7))
    rows = (blocker / "state" / "dimming.csv").read_text().splitlines()
    assert rows[0] == "start,end,duration_s" and rows[1].endswith(",300")
