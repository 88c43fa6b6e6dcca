"""The simulated wallbox, driven by a plain pymodbus client over TCP loopback."""

from __future__ import annotations

import time

import pytest
from pymodbus.client import ModbusTcpClient

from appliance.chargers.vestel_ems import registers as vestel
from appliance.sim.wallbox import SimulatedWallbox
from waiting import wait_until

UNIT = 255


@pytest.fixture
def make_sim():
    started: list[tuple[SimulatedWallbox, ModbusTcpClient]] = []

    def make(**kwargs) -> tuple[SimulatedWallbox, ModbusTcpClient]:
        sim = SimulatedWallbox(**kwargs)
        port = sim.serve_tcp()
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        assert client.connect()
        started.append((sim, client))
        return sim, client

    yield make
    for sim, client in started:
        client.close()
        sim.stop()


def read_input(client, name: str) -> int | str:
    reg = vestel.REGISTERS[name]
    response = client.read_input_registers(reg.address, count=reg.count, device_id=UNIT)
    assert not response.isError(), f"reading {name} failed: {response}"
    return vestel.decode(reg, response.registers)


def write(client, name: str, value: int) -> None:
    response = client.write_register(vestel.REGISTERS[name].address, value, device_id=UNIT)
    assert not response.isError(), f"writing {name}={value} failed: {response}"


def test_cable_state_follows_the_car_and_the_car_draws_the_setpoint(make_sim):
    sim, client = make_sim(max_current_a=32)
    assert read_input(client, "cable_state") == 0
    assert read_input(client, "chargepoint_state") == 0  # Available
    write(client, "setpoint_a", 16)
    sim.plug_in(car_max_a=32)
    assert read_input(client, "cable_state") == 3
    assert read_input(client, "chargepoint_state") == 2  # Charging
    assert read_input(client, "charging_state") == 1
    assert [read_input(client, f"current_l{i}_ma") for i in (1, 2, 3)] == [16000, 16000, 16000]
    assert read_input(client, "power_w") == 16 * 230 * 3
    # The car's own limit wins when it is lower than the setpoint.
    sim.unplug()
    sim.plug_in(car_max_a=10)
    assert sim.current_a == 10
    assert read_input(client, "cable_max_a") == 32
    sim.unplug()
    assert read_input(client, "cable_state") == 0
    assert sim.current_a == 0


def test_zero_amps_pauses_and_energy_only_grows_while_charging(make_sim):
    # 1 s of real time counts as 1 h, so a fraction of a second gives kilowatt-hours.
    sim, client = make_sim(energy_time_scale=3600.0)
    write(client, "setpoint_a", 16)
    sim.plug_in()
    meter_before_wh = sim.meter_wh
    time.sleep(0.5)
    session_wh = read_input(client, "session_energy_wh")
    expected_wh = 16 * 230 * 3 * 0.5
    assert expected_wh * 0.8 < session_wh < expected_wh * 1.5
    # The meter counts in 0.1 kWh units.
    # The register and the attribute are read a moment apart: the meter may step between them.
    assert read_input(client, "meter_0_1kwh") in (int(sim.meter_wh // 100) - 1, int(sim.meter_wh // 100))
    assert sim.meter_wh - meter_before_wh >= session_wh

    write(client, "setpoint_a", 0)
    assert read_input(client, "chargepoint_state") == 3  # SuspendedEVSE
    assert read_input(client, "charging_state") == 0
    assert read_input(client, "current_l1_ma") == 0
    paused_wh = sim.energy_wh
    time.sleep(0.3)
    assert sim.energy_wh == pytest.approx(paused_wh)


def test_setpoint_zero_reads_back_six_after_unplug(make_sim):
    sim, client = make_sim()
    sim.plug_in()
    write(client, "setpoint_a", 0)
    sim.unplug()
    holding = client.read_holding_registers(5004, count=1, device_id=UNIT)
    assert holding.registers == [6]


def test_box_clock_ticks(make_sim):
    _, client = make_sim()
    first = read_input(client, "box_time")
    assert wait_until(lambda: read_input(client, "box_time") != first, timeout_s=2.5)
    hhmmss = read_input(client, "box_time")
    assert 0 <= hhmmss // 10000 < 24 and 0 <= hhmmss // 100 % 100 < 60 and 0 <= hhmmss % 100 < 60


def test_identity_registers_hold_readable_strings(make_sim):
    _, client = make_sim(phases=3, max_current_a=32)
    assert read_input(client, "brand") == "Vestel"
    assert read_input(client, "serial")
    assert read_input(client, "phases") == 1
    assert read_input(client, "max_power_w") == 32 * 230 * 3


def test_reads_across_unlisted_addresses_are_refused_and_recorded(make_sim):
    sim, client = make_sim()
    response = client.read_input_registers(1000, count=5, device_id=UNIT)  # spans 1003
    assert response.isError() and response.exception_code == 2  # ILLEGAL ADDRESS
    assert sim.requests[-1].unlisted == (1003,)
    # The wrong kind is refused too: 1000 is an input register, not a holding register.
    response = client.read_holding_registers(1000, count=1, device_id=UNIT)
    assert response.isError() and response.exception_code == 2
    # A gap-free run is answered.
    response = client.read_input_registers(1000, count=3, device_id=UNIT)
    assert not response.isError()
    assert sim.requests[-1].unlisted == ()


def test_a_lenient_box_answers_across_gaps(make_sim):
    _, client = make_sim(refuse_gaps=False)
    response = client.read_input_registers(1000, count=8, device_id=UNIT)
    assert not response.isError()
    assert response.registers[3] == 0  # 1003 is not a register of the map


def test_function_16_is_refused(make_sim):
    sim, client = make_sim()
    write(client, "setpoint_a", 10)
    response = client.write_registers(5004, [16], device_id=UNIT)
    assert response.isError() and response.exception_code == 1  # ILLEGAL FUNCTION
    assert sim.setpoint_a == 10


def test_one_to_five_amps_is_recorded_as_a_violation(make_sim):
    sim, client = make_sim()
    write(client, "setpoint_a", 16)
    assert sim.violations == []
    write(client, "setpoint_a", 3)
    write(client, "failsafe_current_a", 5)
    assert len(sim.violations) == 2
    assert "5004" in sim.violations[0] and "3 A" in sim.violations[0]
    assert "2000" in sim.violations[1]
    sim.plug_in()
    assert sim.current_a == 0  # no car charges below 6 A


def test_writes_are_recorded_in_order(make_sim):
    sim, client = make_sim()
    write(client, "failsafe_timeout_s", 20)
    write(client, "failsafe_current_a", 10)
    write(client, "alive", 1)
    assert sim.writes == [(2002, 20), (2000, 10), (6000, 1)]
    assert sim.alive_writes == 1
    assert (sim.failsafe_timeout_s, sim.failsafe_current_a) == (20, 10)


def test_alive_register_is_checked_every_half_timeout_but_not_more_often_than_every_3_s(make_sim):
    sim, client = make_sim()
    before = time.monotonic()
    write(client, "failsafe_timeout_s", 2)  # half of it is 1 s: the box checks every 3 s instead
    after = time.monotonic()
    write(client, "alive", 1)
    sim.tick(before + 2.9)
    assert client.read_holding_registers(6000, count=1, device_id=UNIT).registers == [1]
    sim.tick(after + 3.05)
    assert client.read_holding_registers(6000, count=1, device_id=UNIT).registers == [0]  # box cleared it
    assert not sim.in_failsafe

    before = time.monotonic()
    write(client, "failsafe_timeout_s", 10)  # checks every 5 s
    after = time.monotonic()
    write(client, "alive", 1)
    sim.tick(before + 4.9)
    assert client.read_holding_registers(6000, count=1, device_id=UNIT).registers == [1]
    sim.tick(after + 5.05)
    assert client.read_holding_registers(6000, count=1, device_id=UNIT).registers == [0]
    assert not sim.in_failsafe


def test_missed_heartbeat_falls_back_to_failsafe_current_until_setpoint_is_written(make_sim):
    sim, client = make_sim()
    sim.plug_in()
    before = time.monotonic()
    write(client, "failsafe_timeout_s", 4)  # checked every 3 s
    after = time.monotonic()
    write(client, "failsafe_current_a", 8)
    write(client, "setpoint_a", 16)
    assert sim.current_a == 16
    sim.tick(before + 2.9)
    assert not sim.in_failsafe
    sim.tick(after + 3.05)  # no heartbeat since the timeout was set
    assert sim.in_failsafe
    assert sim.current_a == 8
    assert read_input(client, "current_l1_ma") == 8000
    assert sim.setpoint_a == 16  # 5004 still holds what was written

    # Heartbeats alone do not end it (sticky failsafe) ...
    write(client, "alive", 1)
    sim.tick(after + 6.05)
    write(client, "alive", 1)
    sim.tick(after + 9.05)
    assert sim.in_failsafe and sim.current_a == 8
    # ... only writing 5004 again does.
    write(client, "setpoint_a", 16)
    assert not sim.in_failsafe
    assert sim.current_a == 16


def test_frozen_answers_end_with_a_new_connection(make_sim):
    sim, client = make_sim()
    assert wait_until(lambda: sim.connections == 1, timeout_s=2)  # the server has seen the connection
    sim.freeze_answers()
    sim.plug_in()
    assert read_input(client, "cable_state") == 0  # frozen before the car came
    client.close()
    assert client.connect()
    assert wait_until(lambda: sim.connections == 2, timeout_s=2)
    assert read_input(client, "cable_state") == 3
