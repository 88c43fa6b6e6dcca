"""SolarApiPoller against a real HTTP server on loopback serving real Fronius answers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance.sources.fronius import POWERFLOW_PATH, Measurement, SolarApiPoller
from waiting import wait_until as wait_for

SAMPLES = Path(__file__).resolve().parent / "samples" / "fronius"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"the real Fronius samples are not at {SAMPLES} (they live beside the repository)",
)

DAY_ANSWER = b"""{"Body": {"Data": {"Site": {"P_PV": 5600.5, "P_Grid": -800, "P_Load": -4800.5,
 "P_Akku": null}, "Inverters": {"1": {"P": 5400}}}},
 "Head": {"Status": {"Code": 0, "Reason": ""}, "Timestamp": "2024-06-01T13:00:00+02:00"}}"""


class FakeClock:
    """The poller's clock, moved by the test."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class InverterHttp:
    """A loopback HTTP server playing the inverter's Solar API; the answer can be changed."""

    def __init__(self) -> None:
        self.status = 200
        self.body = DAY_ANSWER
        self.delay_s = 0.0
        self.request_times: list[float] = []
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.request_times.append(time.monotonic())
                owner.paths.append(self.path)
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def inverter():
    server = InverterHttp()
    yield server
    server.close()


class Recorder:
    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.rejected: list[tuple[str, str]] = []
        self.event = threading.Event()

    def measurement(self, m: Measurement) -> None:
        self.measurements.append(m)
        self.event.set()

    def reject(self, source: str, reason: str) -> None:
        self.rejected.append((source, reason))
        self.event.set()


def make_poller(url, rec, clock, **kw):
    return SolarApiPoller(url, rec.measurement, rec.reject, clock=clock, **kw)


def test_good_answer_becomes_measurement(inverter):
    rec, clock = Recorder(), FakeClock()
    poller = make_poller(inverter.url + "/", rec, clock)
    m = poller.poll_once()
    assert inverter.paths == [POWERFLOW_PATH]
    assert m is not None and rec.measurements == [m] and rec.rejected == []
    assert (m.pv_w, m.grid_w, m.load_w, m.battery_w) == (5600.5, -800.0, -4800.5, None)
    assert m.source == inverter.url + POWERFLOW_PATH
    assert m.received_at == clock.now


@needs_samples
@pytest.mark.parametrize(
    "name, pv_w",
    [("02_powerflow_day_symo_meter_grid_ha.json", 1111.0),
     ("05_powerflow_two_inverters_primo_s0_ha.json", 1834.0),
     ("06_powerflow_night_produce_only_igplus_all_null_ha.json", 0.0)],
)
def test_real_answers(inverter, name, pv_w):
    inverter.body = (SAMPLES / name).read_bytes()
    rec = Recorder()
    m = make_poller(inverter.url, rec, FakeClock()).poll_once()
    assert m is not None and m.pv_w == pv_w


def bad_answer(inverter, rec, clock) -> tuple[str, str]:
    poller = make_poller(inverter.url, rec, clock, timeout_s=0.5)
    assert poller.poll_once() is None
    assert rec.measurements == [] and len(rec.rejected) == 1
    return rec.rejected[0]


@needs_samples
def test_error_answer_is_rejected(inverter):
    inverter.body = (SAMPLES / "07_error_code255_storage_not_supported_primo_ha.json").read_bytes()
    source, reason = bad_answer(inverter, Recorder(), FakeClock())
    assert source.endswith(POWERFLOW_PATH)
    assert "255" in reason and "not supported" in reason


def test_http_500_is_rejected(inverter):
    inverter.status = 500
    _, reason = bad_answer(inverter, Recorder(), FakeClock())
    assert "HTTP 500" in reason


def test_garbage_is_rejected(inverter):
    inverter.body = b"<html><body>Datamanager busy</body></html>"
    _, reason = bad_answer(inverter, Recorder(), FakeClock())
    assert "not valid JSON" in reason


def test_absurd_value_is_rejected(inverter):
    inverter.body = b'{"Body": {"Data": {"Site": {"P_PV": 1e7}}}}'
    _, reason = bad_answer(inverter, Recorder(), FakeClock())
    assert "P_PV" in reason and "1 MW" in reason


def test_timeout_is_rejected(inverter):
    inverter.delay_s = 1.0
    started = time.monotonic()
    _, reason = bad_answer(inverter, Recorder(), FakeClock())
    assert time.monotonic() - started < 0.95
    assert "0.5 s" in reason


def test_connection_refused_is_rejected():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Recorder()
    poller = make_poller(f"http://127.0.0.1:{port}", rec, FakeClock(), timeout_s=0.5)
    assert poller.poll_once() is None
    assert "could not connect" in rec.rejected[0][1]


def test_failing_callbacks_do_not_escape(inverter):
    def boom(*args):
        raise RuntimeError("callback failed")

    poller = SolarApiPoller(inverter.url, boom, boom, clock=FakeClock())
    assert poller.poll_once() is not None
    inverter.status = 503
    poller._last_request_at = None  # allow the next request at once
    assert poller.poll_once() is None


def test_bad_url_is_refused():
    with pytest.raises(ValueError, match="http://"):
        SolarApiPoller("192.168.178.40", lambda m: None)


def test_default_interval_is_two_seconds():
    assert SolarApiPoller("http://127.0.0.1:9", lambda m: None).interval_s == 2.0


def test_short_interval_is_raised_to_one_second(caplog):
    with caplog.at_level(logging.WARNING, logger="appliance.fronius"):
        poller = SolarApiPoller("http://127.0.0.1:9", lambda m: None, interval_s=0.2)
    assert poller.interval_s == 1.0
    assert "1 s" in caplog.text and "solar_api_interval_s = 2" in caplog.text


def test_direct_polls_closer_than_one_second_send_nothing(inverter):
    rec, clock = Recorder(), FakeClock()
    poller = make_poller(inverter.url, rec, clock)
    assert poller.poll_once() is not None
    clock.now += 0.99
    assert poller.poll_once() is None
    assert len(inverter.request_times) == 1
    clock.now += 0.01
    assert poller.poll_once() is not None
    assert len(inverter.request_times) == 2


def test_background_thread_keeps_the_interval(inverter):
    rec, clock = Recorder(), FakeClock()
    poller = make_poller(inverter.url, rec, clock, interval_s=4.0)
    poller.start()
    try:
        assert wait_for(lambda: len(inverter.request_times) == 1)
        clock.now += 3.9
        time.sleep(0.8)  # longer than the poller's longest wait: it has looked at the clock
        assert len(inverter.request_times) == 1
        clock.now += 0.1
        assert wait_for(lambda: len(inverter.request_times) == 2)
        clock.now += 10.0  # a long gap gives one request, not a burst to catch up
        assert wait_for(lambda: len(inverter.request_times) == 3)
        time.sleep(0.6)
        assert len(inverter.request_times) == 3
    finally:
        started = time.monotonic()
        poller.stop()
        assert time.monotonic() - started < 0.5
    assert len(rec.measurements) == 3


def test_real_clock_blocks_back_to_back_requests(inverter):
    rec = Recorder()
    poller = SolarApiPoller(inverter.url, rec.measurement, rec.reject)
    results = [poller.poll_once() for _ in range(5)]
    assert results[0] is not None and results[1:] == [None] * 4
    assert len(inverter.request_times) == 1
