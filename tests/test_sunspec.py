"""SunSpec over Modbus TCP: the decoding, the model walk, and the poller against the simulated
GEN24 on loopback (int + SF and float layouts, with battery and meter)."""

from __future__ import annotations

import math
import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.policy.control import Controller, Inputs, PolicySettings
from appliance.sim.sunspec_inverter import SimulatedSunSpecInverter
from appliance.sources import sunspec as ss
from appliance.sources.fronius import identity_gap_w
from appliance.sources.sunspec_poller import SunSpecPoller
from waiting import wait_until


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def local_read(sim: SimulatedSunSpecInverter):
    """Read the simulator's register image directly (no network) for fast property tests."""
    def read(unit, address, count):
        words = sim.unit_words().get(unit)
        offset = address - sim.base
        if words is None or offset < 0 or offset + count > len(words) + 8:
            return None
        return (words + [0] * 8)[offset:offset + count]
    return read


def figures(sim: SimulatedSunSpecInverter):
    read = local_read(sim)
    inverter, meter = ss.discover(read, 1), ss.discover(read, 200)
    return ss.read_figures(read, 1, inverter, 200, meter).measurement(source="t", received_at=0.0)


@pytest.fixture
def serve():
    started = []

    def start(**kw) -> tuple[SimulatedSunSpecInverter, int]:
        sim = SimulatedSunSpecInverter(**kw)
        started.append(sim)
        return sim, sim.serve_tcp()
    yield start
    for sim in started:
        sim.stop()


# -- decoding ------------------------------------------------------------------------------------

def test_not_implemented_values_are_not_known():
    assert ss.int16(0x8000) is None and ss.int16(0xFFFF) == -1 and ss.int16(0x7FFF) == 32767
    assert ss.uint16(0xFFFF) is None and ss.uint16(0) == 0
    nan_words = struct.unpack(">HH", struct.pack(">f", math.nan))
    assert ss.float32(*nan_words) is None
    assert ss.float32(*struct.unpack(">HH", struct.pack(">f", -1234.5))) == -1234.5
    assert ss.scaled(123, 0x8000) is None  # scale factor not implemented
    assert ss.scaled(9390, 0xFFFE) == pytest.approx(93.9)
    assert ss.scaled(None, 0) is None


def test_the_model_chain_is_walked_from_40000_0_or_50000():
    for base in (40000, 0, 50000):
        sim = SimulatedSunSpecInverter(base=base)
        models = ss.discover(local_read(sim), 1)
        assert sorted(models) == [1, 103, 120, 121, 122, 123, 124, 160]
        # The walk found each model where the chain put it, not at a fixed address.
        assert models[1].address == base + 4 and models[103].address == base + 4 + 65 + 2
    assert ss.discover(lambda unit, address, count: None, 1) == {}


def test_a_chain_that_never_ends_stops_after_max_models():
    def read(unit, address, count):
        return list(ss.SUNS_MARKER) if address == 40000 else [1, 0]  # zero-length models forever
    assert list(ss.discover(read, 1)) == [1]


def test_mppt_modules_give_production_and_battery_power():
    sim = SimulatedSunSpecInverter(soc_pct=40, max_charge_w=2000)
    sim.set(production_w=5000, house_w=1000)
    m = figures(sim)
    assert (m.pv_production_w, m.battery_w, m.grid_w) == (5000.0, -2000.0, -2000.0)
    assert m.pv_w == 3000.0 and m.soc_pct == pytest.approx(40.0)


@settings(max_examples=60)
@given(st.floats(0, 20000), st.floats(50, 15000), st.floats(0, 22000), st.floats(0, 100),
       st.booleans(), st.booleans())
def test_every_sunspec_reading_satisfies_the_power_balance(production_w, house_w, car_w, soc,
                                                           float_mode, battery):
    sim = SimulatedSunSpecInverter(float_mode=float_mode, battery=battery, soc_pct=soc,
                                   clock=lambda: 0.0)
    sim.set(production_w=production_w, house_w=house_w, car_w=car_w)
    m = figures(sim)
    assert abs(identity_gap_w(m)) <= 3.0  # whole watts in the int registers
    assert m.pv_w <= production_w - m.battery_charging_w + 2.0
    assert m.pv_w <= max(0.0, production_w) + 2.0
    if not battery:
        assert m.battery_w is None and m.soc_pct is None


# -- the poller over TCP -------------------------------------------------------------------------

@pytest.mark.parametrize("float_mode", [False, True])
def test_poller_reads_a_gen24_with_a_charging_battery(serve, float_mode):
    sim, port = serve(float_mode=float_mode, soc_pct=93.9, max_charge_w=660)
    sim.set(production_w=1148, house_w=400)
    got = []
    poller = SunSpecPoller("127.0.0.1", got.append, port=port, timeout_s=1.0)
    try:
        m = poller.poll_once()
        inverter, meter = poller.models()
    finally:
        poller.stop()
    assert got == [m] and m.kind == "sunspec" and m.source == f"sunspec://127.0.0.1:{port}"
    assert (m.pv_production_w, m.battery_w, m.grid_w) == (1148.0, -660.0, -88.0)
    assert m.pv_w == 488.0 and m.soc_pct == pytest.approx(93.9, abs=0.01)
    assert sorted(inverter) == [1, 113 if float_mode else 103, 120, 121, 122, 123, 124, 160]
    assert sorted(meter) == [1, 213 if float_mode else 203]
    # The headline over SunSpec: 11 kW + 488 W on three phases is 16 A, not 17 A.
    decision = Controller(PolicySettings(allowance_w=11000.0)).decide(
        Inputs(now_s=m.received_at, mode="fast", pv_w=m.pv_w, pv_at_s=m.received_at))
    assert decision.setpoint_a == 16


def test_poller_never_counts_the_battery_discharge_as_pv(serve):
    sim, port = serve(soc_pct=80)
    sim.set(production_w=500, house_w=2500)
    poller = SunSpecPoller("127.0.0.1", lambda m: None, port=port, timeout_s=1.0)
    try:
        m = poller.poll_once()
    finally:
        poller.stop()
    assert m.battery_w == 2000.0 and m.grid_w == 0.0
    assert m.pv_w == 500.0  # the inverter's AC power is 2.5 kW; 2 kW of it is the battery


def test_without_a_meter_the_poller_still_reads_pv(serve, caplog):
    sim, port = serve(meter_unit=None, battery=False, base=50000)
    sim.set(production_w=4200)
    poller = SunSpecPoller("127.0.0.1", lambda m: None, port=port, timeout_s=1.0)
    try:
        m = poller.poll_once()
    finally:
        poller.stop()
    assert (m.pv_w, m.grid_w, m.battery_w) == (4200.0, None, None)
    assert "sunspec_meter_unit" in caplog.text


def test_a_wrong_unit_or_a_closed_port_is_reported_with_the_fix(serve):
    sim, port = serve()
    rejected = []
    poller = SunSpecPoller("127.0.0.1", lambda m: None, lambda s, r: rejected.append(r),
                           port=port, inverter_unit=7, timeout_s=1.0)
    assert poller.poll_once() is None
    poller.stop()
    assert "sunspec_inverter_unit" in rejected[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    poller = SunSpecPoller("127.0.0.1", lambda m: None, lambda s, r: rejected.append(r),
                           port=closed_port, timeout_s=0.5)
    assert poller.poll_once() is None
    poller.stop()
    assert "Modbus TCP is enabled" in rejected[1]


def test_background_polling_follows_the_injected_clock(serve):
    sim, port = serve()
    sim.set(production_w=3000)
    clock, got = FakeClock(), []
    poller = SunSpecPoller("127.0.0.1", got.append, port=port, clock=clock, interval_s=2.0,
                           timeout_s=1.0)
    poller.start()
    try:
        assert wait_until(lambda: len(got) == 1)
        clock.now += 1.9
        time.sleep(0.3)  # longer than the poller's longest wait (0.2 s): it has looked at the clock
        assert len(got) == 1
        clock.now += 0.1
        assert wait_until(lambda: len(got) == 2)
        sim.set(production_w=1000)
        clock.now += 2.0
        assert wait_until(lambda: len(got) == 3)
    finally:
        poller.stop()
    assert [m.pv_production_w for m in got] == [3000.0, 3000.0, 1000.0]
    assert got[2].received_at == clock.now


def test_the_simulated_gen24_answers_the_solar_api_with_the_same_figures(serve):
    from appliance.sources.fronius import SolarApiPoller

    sim, port = serve(soc_pct=70, max_charge_w=1500)
    sim.set(production_w=5000, house_w=700, car_w=1380)
    http_port = sim.serve_solar_api()
    got = []
    api = SolarApiPoller(f"http://127.0.0.1:{http_port}", got.append)
    modbus = SunSpecPoller("127.0.0.1", got.append, port=port, timeout_s=1.0)
    try:
        api.poll_once()
        modbus.poll_once()
    finally:
        api.stop()
        modbus.stop()
    by_api, by_modbus = got
    for m in got:
        assert abs(identity_gap_w(m)) <= 3.0
    assert by_api.kind == "powerflow" and by_modbus.kind == "sunspec"
    for field in ("pv_w", "grid_w", "battery_w", "pv_production_w", "soc_pct"):
        assert getattr(by_api, field) == pytest.approx(getattr(by_modbus, field), abs=1.0), field
    assert (by_api.battery_w, by_api.grid_w, by_api.pv_w) == (-1500.0, -1420.0, 3500.0)


def test_float_mode_fields_sit_where_gen24_owners_read_them():
    """Owners of float-mode GEN24s read the inverter's AC power at 40092, the strings at 40285
    and 40305, the battery at 40325 / 40345 and the meter (unit 200) at 40098, + on import
    (1-based register numbers, as listed in oscarknapp/Fronius-Gen-24-Modbus-Integration
    Documentation/RegisterOverview.md). The simulator's chain walk lands on the same registers."""
    sim = SimulatedSunSpecInverter(float_mode=True)
    models = ss.discover(local_read(sim), 1)
    one_based = {name: address + 1 for name, address in {
        "inverter W": models[113].address + ss.INVERTER_FLOAT_W,
        "string 1 DCW": models[160].address + ss.MPPT_MODULE_START + ss.MPPT_DCW,
        "string 2 DCW": models[160].address + ss.MPPT_MODULE_START + 20 + ss.MPPT_DCW,
        "StCha DCW": models[160].address + ss.MPPT_MODULE_START + 40 + ss.MPPT_DCW,
        "StDisCha DCW": models[160].address + ss.MPPT_MODULE_START + 60 + ss.MPPT_DCW,
    }.items()}
    assert one_based == {"inverter W": 40092, "string 1 DCW": 40285, "string 2 DCW": 40305,
                         "StCha DCW": 40325, "StDisCha DCW": 40345}
    meter = ss.discover(local_read(sim), 200)
    assert meter[213].address + ss.METER_FLOAT_W + 1 == 40098


words = st.integers(0, 0xFFFF)


@settings(max_examples=150)
@given(st.lists(words, min_size=0, max_size=300), st.lists(words, min_size=0, max_size=200),
       st.sampled_from([103, 113, 101, 111]), st.sampled_from([203, 213, 201, 211]))
def test_any_register_contents_give_a_safe_reading_or_a_clear_refusal(inverter_words, meter_words,
                                                                     inverter_model, meter_model):
    """Whatever a device answers inside a valid chain: finite figures within 1 MW, PV >= 0."""
    def chain(model_ids_and_bodies):
        out = list(ss.SUNS_MARKER)
        for model_id, body in model_ids_and_bodies:
            out += [model_id, len(body)] + body
        return out + [ss.END_MODEL_ID, 0]

    def cut(source, length):
        return (source + [0] * length)[:length]

    units = {
        1: chain([(inverter_model, cut(inverter_words, ss.MODEL_LENGTHS[inverter_model])),
                  (124, cut(inverter_words[::-1], 24)),
                  (160, cut(inverter_words[7:], 88))]),
        200: chain([(meter_model, cut(meter_words, ss.MODEL_LENGTHS[meter_model]))]),
    }

    def read(unit, address, count):
        data = units.get(unit)
        offset = address - 40000
        if data is None or offset < 0 or offset + count > len(data):
            return None
        return data[offset:offset + count]

    try:
        figures_read = ss.read_figures(read, 1, ss.discover(read, 1), 200, ss.discover(read, 200))
    except ss.SunSpecError:
        return
    m = figures_read.measurement(source="fuzz", received_at=0.0)
    for value in (m.pv_w, m.grid_w, m.battery_w, m.pv_production_w, m.load_w):
        assert value is None or (math.isfinite(value) and abs(value) <= 3_000_000)
    assert 0.0 <= m.pv_w <= 1_000_000
    assert m.soc_pct is None or 0.0 <= m.soc_pct <= 100.0
