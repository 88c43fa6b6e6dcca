"""GEN24 samples with a home battery through the parser, and the headline figure: a charging
battery's power is not PV the car may count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.policy.battery import BatteryRules, pv_counted_w
from appliance.policy.control import Controller, Inputs, PolicySettings
from appliance.sources.fronius import identity_gap_w, parse_document, pv_for_car_w

GEN24 = Path(__file__).resolve().parent / "samples" / "fronius-gen24"

# (P_PV, P_Akku, SOC, PV reaching the AC side) read by hand from each file.
EXPECTED = {
    "gen24_battery_charging_660w.json": (1147.7030258178711, -660.33734130859375, 93.9,
                                         1147.7030258178711 - 660.33734130859375),
    "gen24_battery_discharging_389w.json": (38.069236755371094, 388.62789916992188, 94.8,
                                            38.069236755371094),
    "gen24_battery_full_standby.json": (4298.144073486328, -0.3481009304523468, 100.0,
                                        4298.144073486328 - 0.3481009304523468),
    "gen24_battery_standby_night.json": (0.0, 0.0, 74.1, 0.0),
}


def test_every_sample_is_checked():
    assert sorted(p.name for p in GEN24.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gen24_battery_samples(name):
    production_w, battery_w, soc_pct, pv_ac_w = EXPECTED[name]
    m = parse_document((GEN24 / name).read_bytes(), source=name, received_at=0.0)
    assert m.pv_production_w == pytest.approx(production_w)
    assert m.battery_w == pytest.approx(battery_w)
    assert m.soc_pct == pytest.approx(soc_pct)
    assert m.pv_w == pytest.approx(pv_ac_w)
    # The working identity holds within 100 W (the terms are sampled at slightly different times).
    assert abs(identity_gap_w(m)) < 100.0
    assert pv_for_car_w(m) == m.pv_w
    assert pv_for_car_w(m, car_may_discharge=True) == pytest.approx(
        m.pv_w + max(0.0, battery_w))


def test_gen24_without_battery_has_no_state_of_charge():
    doc = {"Body": {"Data": {"Site": {"P_PV": 500.0, "P_Grid": 100.0, "P_Load": -600.0,
                                      "P_Akku": None},
                             "Inverters": {"1": {"Battery_Mode": "disabled", "SOC": 0.0}}}}}
    m = parse_document(doc, source="t", received_at=0.0)
    assert (m.battery_w, m.soc_pct, m.pv_w) == (None, None, 500.0)


@pytest.mark.parametrize("soc", ["93", True, -1, 100.5])
def test_a_bad_state_of_charge_is_refused_with_its_field(soc):
    doc = {"Body": {"Site": {"P_PV": 500.0, "P_Akku": -100.0},
                    "Inverters": {"1": {"SOC": soc}}}}
    with pytest.raises(ValueError, match=r"Body\.Inverters\.1\.SOC .*0 to 100"):
        parse_document(doc, source="t", received_at=0.0)


def _as_push(name: str) -> bytes:
    """The polled answer in the push layout (Body without Data), as a Datamanager sends it."""
    doc = json.loads((GEN24 / name).read_text())
    doc["Body"] = doc["Body"]["Data"]
    return json.dumps(doc).encode()


def _fast_mode_amps(pv_w: float, at_s: float) -> int:
    controller = Controller(PolicySettings(allowance_w=11000.0, phases=3, voltage_v=230.0))
    return controller.decide(Inputs(now_s=at_s, mode="fast", pv_w=pv_w, pv_at_s=at_s,
                                    car_connected=True)).setpoint_a


def test_headline_battery_charging_660_w_of_1148_w_gives_16_a_not_17_a():
    m = parse_document(_as_push("gen24_battery_charging_660w.json"), source="push",
                       received_at=100.0)
    assert m.pv_w == pytest.approx(487.4, abs=0.1)
    # 11 kW + 487 W on three phases at 230 V: 16.6 A -> 16 A.
    assert _fast_mode_amps(m.pv_w, m.received_at) == 16
    # Counting the battery's charging power as PV would give 11 kW + 1148 W: 17 A.
    assert _fast_mode_amps(m.pv_production_w, m.received_at) == 17
    # The battery rules agree, whatever the state of charge and discharge setting.
    for rules in (BatteryRules(), BatteryRules(priority_soc_pct=0, car_may_discharge=True)):
        assert pv_counted_w(m.pv_w, m.battery_w, m.soc_pct, rules) == m.pv_w


# -- the Solar API poller against the GEN24 samples over loopback HTTP ---------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_solar_api_poller_reads_each_gen24_battery_sample_over_http():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    from appliance.sources.fronius import POWERFLOW_PATH, SolarApiPoller

    answer = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = answer["body"] if self.path == POWERFLOW_PATH else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    clock, got = _Clock(), []
    poller = SolarApiPoller(f"http://127.0.0.1:{server.server_address[1]}", got.append,
                            clock=clock)
    try:
        for name in sorted(EXPECTED):
            answer["body"] = (GEN24 / name).read_bytes()
            clock.now += 2.0
            m = poller.poll_once()
            assert m is not None and m.received_at == clock.now
            assert (m.battery_w, m.pv_w) == pytest.approx(EXPECTED[name][1::2])
    finally:
        poller.stop()
        server.shutdown()
        server.server_close()
    assert len(got) == len(EXPECTED)
