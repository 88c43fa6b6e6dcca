"""probe_inverter against the simulators on loopback: the Solar API served from real samples
over HTTP, and the simulated GEN24 over Modbus TCP."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance.sim.sunspec_inverter import SimulatedSunSpecInverter
from appliance.sources.probe_inverter import PushFinding, print_probe, probe_inverter

GEN24 = Path(__file__).resolve().parent / "samples" / "fronius-gen24"
API_VERSION = json.dumps({"APIVersion": 1, "BaseURL": "/solar_api/v1/",
                          "CompatibilityRange": "1.6-2"}).encode()


class SolarApiHttp:
    """The inverter's Solar API on loopback: GetAPIVersion and one power-flow answer."""

    def __init__(self, powerflow: bytes) -> None:
        routes = {"/solar_api/GetAPIVersion.cgi": API_VERSION,
                  "/solar_api/v1/GetPowerFlowRealtimeData.fcgi": powerflow}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = routes.get(self.path)
                self.send_response(200 if body else 404)
                body = body or b"not found"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def solar_api():
    server = SolarApiHttp((GEN24 / "gen24_battery_charging_660w.json").read_bytes())
    yield server
    server.close()


@pytest.fixture
def gen24():
    sim = SimulatedSunSpecInverter(soc_pct=60)
    sim.set(production_w=6000, house_w=800)
    port = sim.serve_tcp()
    yield sim, port
    sim.stop()


def run(probe):
    lines: list[str] = []
    code = print_probe(probe, out=lines.append)
    return code, "\n".join(lines)


def test_both_answer_and_the_solar_api_with_a_meter_is_suggested(solar_api, gen24):
    _, modbus_port = gen24
    code, text = run(probe_inverter("127.0.0.1", http_port=solar_api.port,
                                    modbus_port=modbus_port, timeout_s=1.0))
    assert code == 0
    assert f"Solar API v1 answers at http://127.0.0.1:{solar_api.port}" in text
    assert "battery -660 W (- charging) at 94 %" in text
    assert "models 1, 103, 120, 121, 122, 123, 124, 160 at unit 1 (storage 124, MPPT 160)" in text
    assert "meter models 1, 203 at unit 200" in text
    assert "No push has arrived" in text
    assert text.endswith(f'source = "solar_api"\n  solar_api_url = "http://127.0.0.1:{solar_api.port}"')


def test_only_sunspec_answers_and_it_is_suggested_with_its_units(gen24):
    _, modbus_port = gen24
    code, text = run(probe_inverter("127.0.0.1", http_port=free_port(), modbus_port=modbus_port,
                                    timeout_s=1.0))
    assert code == 0
    assert "Solar API at http://127.0.0.1:" in text and "no answer" in text
    assert text.endswith('source = "sunspec"\n  sunspec_host = "127.0.0.1"\n'
                         f"  sunspec_port = {modbus_port}\n  sunspec_inverter_unit = 1\n"
                         "  sunspec_meter_unit = 200")


def test_pushes_that_arrive_win(solar_api):
    code, text = run(probe_inverter("127.0.0.1", http_port=solar_api.port,
                                    modbus_port=free_port(), timeout_s=0.5,
                                    push=PushFinding("20260601/120000.solarapi.v1.powerflow", 12.0)))
    assert code == 0
    assert "Pushes arrive: the latest (20260601/120000.solarapi.v1.powerflow) 12 s ago." in text
    assert "SunSpec at 127.0.0.1:" in text and "Modbus TCP is enabled" in text
    assert text.endswith('source = "push"')


def test_nothing_answers_says_what_to_check():
    code, text = run(probe_inverter("127.0.0.1", http_port=free_port(), modbus_port=free_port(),
                                    timeout_s=0.5))
    assert code == 1
    assert "Nothing answers: check the address" in text
