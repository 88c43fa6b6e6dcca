"""The simulated inverter: PV day model, push documents, and pushing to the real FtpReceiver."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sources.fronius import Measurement, parse_document
from appliance.sources.ftp_receiver import FtpReceiver
from appliance.sim.inverter import SimulatedInverter, powerflow_document, pv_day_w

USER, PASSWORD = "fronius", "push-pass"


# --- the PV day


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.25, 0.84, 0.9, 0.999, 1.0, -0.1, 3.05])
def test_no_pv_at_night(fraction):
    assert pv_day_w(fraction) == 0.0
    assert pv_day_w(fraction, clouds=False) == 0.0


def test_pv_at_noon():
    assert pv_day_w(0.5, clouds=False) > 8000
    assert pv_day_w(13 / 24, peak_w=9000, clouds=False) == pytest.approx(9000.0)
    for seed in range(20):
        assert pv_day_w(0.5, seed=seed) > 0


def test_same_seed_same_day_other_seed_other_clouds():
    moments = [i / 288 for i in range(288)]  # every 5 minutes
    day = [pv_day_w(t, seed=7) for t in moments]
    assert day == [pv_day_w(t, seed=7) for t in moments]
    assert day != [pv_day_w(t, seed=8) for t in moments]


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=50_000), st.integers(0, 10**6))
def test_clouds_only_take_away(fraction, peak_w, seed):
    clear = pv_day_w(fraction, peak_w=peak_w, clouds=False)
    cloudy = pv_day_w(fraction, peak_w=peak_w, seed=seed)
    assert 0.0 <= cloudy <= clear <= peak_w * (1 + 1e-12)


def test_clouds_make_visible_dips():
    moments = [i / 1440 for i in range(1440)]
    ratios = [pv_day_w(t) / pv_day_w(t, clouds=False) for t in moments if pv_day_w(t, clouds=False) > 100]
    assert min(ratios) < 0.6  # at least one cloud takes off more than 40 %


def test_bad_arguments():
    with pytest.raises(ValueError):
        pv_day_w(float("nan"))
    with pytest.raises(ValueError):
        pv_day_w(0.5, peak_w=-1)


# --- the push document


def test_document_reads_back_through_the_parser():
    when = datetime(2024, 6, 1, 13, 0, 3, tzinfo=timezone(timedelta(hours=2)))
    doc = powerflow_document(pv_w=5600.0, grid_w=-1100.0, load_w=-4500.0, timestamp=when)
    assert doc["Head"]["Timestamp"] == "2024-06-01T13:00:03+02:00"
    assert doc["Body"]["Site"]["Mode"] == "meter"
    m = parse_document(doc, source="sim", received_at=0.0)
    assert (m.pv_w, m.grid_w, m.load_w, m.battery_w, m.kind) == (5600.0, -1100.0, -4500.0, None, "powerflow")
    assert m.inverter_time == when


def test_night_and_meterless_documents():
    when = datetime(2024, 6, 1, 23, 0, tzinfo=timezone.utc)
    night = powerflow_document(pv_w=None, grid_w=400.0, load_w=-400.0, timestamp=when)
    assert night["Body"]["Site"]["P_PV"] is None
    assert parse_document(night, source="sim", received_at=0).pv_w == 0.0
    meterless = powerflow_document(pv_w=800.0, grid_w=None, load_w=None, timestamp=when)
    assert meterless["Body"]["Site"]["Mode"] == "produce-only"
    m = parse_document(meterless, source="sim", received_at=0)
    assert (m.pv_w, m.grid_w, m.load_w) == (800.0, None, None)
    with pytest.raises(ValueError, match="timezone"):
        powerflow_document(pv_w=1.0, grid_w=None, load_w=None, timestamp=datetime(2024, 1, 1))


# --- pushing to the real FTP receiver


class Inbox:
    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.rejected: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def add(self, m: Measurement) -> None:
        with self._cond:
            self.measurements.append(m)
            self._cond.notify_all()

    def reject(self, source: str, reason: str) -> None:
        self.rejected.append((source, reason))

    def wait_for(self, count: int, timeout_s: float = 3.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.measurements) >= count, timeout=timeout_s)


@pytest.fixture
def receiver():
    inbox = Inbox()
    server = FtpReceiver(host="127.0.0.1", port=0, user=USER, password=PASSWORD,
                         on_measurement=inbox.add, on_rejected=inbox.reject)
    server.start()
    server.inbox = inbox
    yield server
    server.stop()


def make_inverter(receiver, **kw) -> SimulatedInverter:
    host, port = receiver.address
    options = dict(host=host, port=port, user=USER, password=PASSWORD, interval_s=0.1,
                   pv_w=lambda: 5600.0, house_w=lambda: 1500.0, car_w=lambda: 11040.0)
    options.update(kw)
    return SimulatedInverter(**options)


def test_pushes_arrive_as_measurements(receiver):
    inverter = make_inverter(receiver)
    inverter.start()
    try:
        assert receiver.inbox.wait_for(3)
    finally:
        inverter.stop()
    m = receiver.inbox.measurements[0]
    assert (m.pv_w, m.grid_w, m.load_w, m.kind) == (5600.0, 1500.0 + 11040.0 - 5600.0, -12540.0, "powerflow")
    assert m.source == "powerflow.json"
    assert m.inverter_time is not None and abs(m.inverter_time - datetime.now(timezone.utc)) < timedelta(seconds=30)
    assert inverter.pushes_sent >= 3 and inverter.last_error is None
    assert receiver.inbox.rejected == []


def test_values_follow_the_callables_and_night_pv(receiver):
    pv = iter([7000.0, None])
    inverter = make_inverter(receiver, pv_w=lambda: next(pv), car_w=lambda: 0.0,
                             file_name="%Y%m%d/%H%M%S.solarapi.v1.powerflow")
    assert inverter.push_once() and inverter.push_once()
    assert receiver.inbox.wait_for(2)
    day, night = receiver.inbox.measurements
    assert (day.pv_w, day.grid_w, day.load_w) == (7000.0, -5500.0, -1500.0)
    assert (night.pv_w, night.grid_w, night.load_w) == (0.0, 1500.0, -1500.0)
    folder, name = day.source.split("/")
    assert folder.isdigit() and len(folder) == 8 and folder.startswith(str(datetime.now().year)[:3])
    assert name[:6].isdigit() and name[6:] == ".solarapi.v1.powerflow"


def test_pause_stops_data_and_resume_restarts_it(receiver):
    inverter = make_inverter(receiver)
    inverter.start()
    try:
        assert receiver.inbox.wait_for(2)
        inverter.pause_pushing()
        assert inverter.paused
        count = len(receiver.inbox.measurements)
        sent = inverter.pushes_sent
        time.sleep(0.5)  # five intervals
        assert inverter.pushes_sent == sent
        assert len(receiver.inbox.measurements) == count
        inverter.resume_pushing()
        assert receiver.inbox.wait_for(count + 2)
    finally:
        inverter.stop()


def test_wrong_password_is_reported_not_raised(receiver):
    inverter = make_inverter(receiver, password="wrong")
    assert inverter.push_once() is False
    assert inverter.pushes_sent == 0
    assert "530" in inverter.last_error and str(receiver.address[1]) in inverter.last_error
    assert receiver.inbox.measurements == []


def test_unreachable_server_is_reported_and_stop_is_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inverter = SimulatedInverter(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                                 interval_s=0.05, pv_w=lambda: 1.0, house_w=lambda: 1.0,
                                 car_w=lambda: 0.0)
    inverter.start()
    time.sleep(0.3)
    started = time.monotonic()
    inverter.stop()
    assert time.monotonic() - started < 1.0
    assert inverter.pushes_sent == 0
    assert inverter.last_error is not None and "refused" in inverter.last_error.lower()


def test_a_failing_callable_is_reported(receiver):
    def broken():
        raise RuntimeError("sensor unplugged")

    inverter = make_inverter(receiver, house_w=broken)
    assert inverter.push_once() is False
    assert "sensor unplugged" in inverter.last_error
