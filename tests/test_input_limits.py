"""Input limits on everything that comes from outside: each input that breaks one is refused with
a reason and counted, never raised. (The control socket's limits: tests/test_socket_limits.py;
the FTP receiver's connection and upload limits: tests/test_ftp_guard.py; settings files:
tests/test_config_files.py.)"""

from __future__ import annotations

import ftplib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.input_limits import JsonLimits, json_problem, loads_limited
from appliance.mqtt import MqttBridge, MqttSettings
from appliance.sources import sunspec
from appliance.sources.fronius import MAX_POWER_W, FroniusDataError, parse_document
from appliance.sources.ftp_receiver import FtpReceiver
from appliance.sources.solar_api import SolarApiPoller
from fronius_outcome import check_outcome

GOOD = {"Head": {"Status": {"Code": 0}}, "Body": {"Data": {"Site": {"P_PV": 5600, "P_Grid": -100,
                                                                   "P_Load": -5500}}}}
HUGE_INT = b'{"Body": {"Data": {"Site": {"P_PV": ' + b"9" * 5000 + b"}}}}"
DEEP = b"[" * 10_000 + b"]" * 10_000
ONE_MB = json.dumps({"Body": {"Data": {"Site": {"P_PV": 1}}}, "pad": "x" * 1_000_000}).encode()

HOSTILE = [(HUGE_INT, "number longer than"), (DEEP, "nested too deeply"), (ONE_MB, "bytes, more than")]


@pytest.mark.parametrize("data,reason", HOSTILE, ids=["5000 digits", "10000 deep", "1 MB"])
def test_a_hostile_push_gives_fronius_data_error_with_the_reason(data, reason):
    with pytest.raises(FroniusDataError, match=reason):
        parse_document(data, source="powerflow.json", received_at=0.0)
    with pytest.raises(FroniusDataError, match=reason):
        parse_document(data.decode(), source="powerflow.json", received_at=0.0)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["Head", "Body", "Data", "Site", "P_PV", "P_Grid", "PAC", "Value", "Status"]), inner, max_size=4),
    max_leaves=30).map(lambda d: json.dumps(d).encode())))
def test_any_bytes_give_a_measurement_or_fronius_data_error(data):
    check_outcome(data, source="powerflow.json")


def test_json_limits_do_not_refuse_ordinary_documents():
    limits = JsonLimits(max_bytes=1000, max_depth=4, max_digits=10)
    assert json_problem(b'{"a": [1.5e3, -2, "[[[[[[[[ 99999999999999 \\" ]]]"]}', limits) == ""
    assert json_problem(b"[[[[[1]]]]]", limits).startswith("nested too deeply")
    assert loads_limited('{"x": 12345}') == {"x": 12345}
    with pytest.raises(ValueError, match="number longer"):
        loads_limited("1" * 5000)


def test_the_ftp_receiver_counts_a_5000_digit_push_as_rejected_with_the_reason():
    rejected = []
    receiver = FtpReceiver(host="127.0.0.1", port=0, user="fronius", password="secret-push",
                           on_measurement=lambda m: None, on_rejected=lambda s, r: rejected.append(r))
    receiver.start()
    try:
        host, port = receiver.address
        with ftplib.FTP(timeout=5) as ftp:
            ftp.connect(host, port)
            ftp.login("fronius", "secret-push")
            ftp.storbinary("STOR powerflow.json", io.BytesIO(HUGE_INT))
            ftp.storbinary("STOR powerflow.json", io.BytesIO(json.dumps(GOOD).encode()))
        deadline = time.monotonic() + 5
        while receiver.rejected_count < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        receiver.stop()
    assert receiver.rejected_count == 1
    assert "number longer than" in rejected[0]


class _Answer(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            self.wfile.write(self.server.body)
        except OSError:
            pass  # the poller hung up once it had enough

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("body,reason", [(HUGE_INT, "number longer"), (DEEP, "nested too deeply"),
                                         (b"{" * 2_000_000, "larger than")])
def test_a_hostile_solar_api_answer_is_rejected_with_the_reason(body, reason):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.body = body
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rejected = []
    try:
        poller = SolarApiPoller(f"http://127.0.0.1:{server.server_address[1]}/solar_api",
                                on_measurement=lambda m: None,
                                on_rejected=lambda url, r: rejected.append(r))
        assert poller.poll_once() is None
    finally:
        server.shutdown()
        server.server_close()
    assert len(rejected) == 1 and reason in rejected[0]


WORDS = st.integers(0, 0xFFFF)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=130, max_size=130), st.sampled_from([101, 103, 111, 113]),
       st.sampled_from([201, 203, 211, 213]))
def test_sunspec_values_are_a_bounded_power_or_none_whatever_the_registers(regs, inverter, meter):
    for w in (sunspec.inverter_ac_w(inverter, regs), sunspec.meter_w(meter, regs)):
        assert w is None or abs(w) <= MAX_POWER_W
    soc = sunspec.storage_soc_pct(regs)
    assert soc is None or 0 <= soc <= 100


def test_mqtt_commands_over_the_limits_are_refused_and_counted():
    calls = []
    bridge = MqttBridge(MqttSettings(host="127.0.0.1"), get_status=dict,
                        command=lambda name, **a: calls.append(name) or {"ok": True})
    cases = [("command", b"[" * 255), ("command", b"9" * 255), ("command", b'{"command":' * 20),
             ("command", b"x" * 100_000), ("mode/set", "pv".encode() * 1000),
             ("paused/set", b"\xff\xfe"), ("command", b'{"command": "pause", "minutes": 1e999}')]
    for key, payload in cases:
        answer = bridge.handle(key, payload)
        assert answer["ok"] is False and answer["error"], (key, payload[:20])
    assert bridge.refused == len(cases) and calls == []
    assert bridge.handle("mode/set", b"pv")["ok"] is True and calls == ["mode"]


def test_web_forms_over_the_limits_are_refused_with_400_and_counted(tmp_path):
    from test_web import call, make_server
    from web_standin import StandInService

    server = make_server(StandInService(), tmp_path)
    server.start()
    try:
        for raw in (b"[" * 1024, b"9" * 1000, b'{"command":' * 90):
            status, _response, answer = call(server, "POST", "/api/command", raw=raw)
            assert status == 400 and answer["ok"] is False and answer["error"], raw[:20]
        status, _response, _answer = call(server, "POST", "/api/command", raw=b"x" * 5000)
        assert status == 413
        status, _response, answer = call(server, "POST", "/api/command", {"command": "status"})
        assert status in (200, 403)  # answered; the ordinary path is tested in test_web.py
    finally:
        server.stop()
    assert server.rejected.total == 3
