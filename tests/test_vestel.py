"""The EMS register map, its read plans and the Modbus client, against the simulated wallbox over TCP loopback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.chargers.vestel_ems import VestelClient, WallboxError, WallboxStatus
from appliance.chargers.vestel_ems import registers as vestel
from appliance.chargers.vestel_ems.plausible import implausible, power_bound_w
from appliance.sim.wallbox import SimulatedWallbox


@pytest.fixture
def sim():
    box = SimulatedWallbox()
    box.port = box.serve_tcp()
    yield box
    box.stop()


# --- register map and read plan ---------------------------------------------------------------


def test_register_map_has_no_overlaps_and_every_entry_says_why():
    for kind in (vestel.INPUT, vestel.HOLDING):
        regs = sorted((r for r in vestel.REGISTER_MAP if r.kind == kind), key=lambda r: r.address)
        for a, b in zip(regs, regs[1:]):
            assert a.end <= b.address, f"{a.name} overlaps {b.name}"
    assert all(reg.why for reg in vestel.REGISTER_MAP)
    assert {1003, 1005, 1009} & vestel.listed_addresses(vestel.INPUT) == set()


@given(st.sets(st.sampled_from(vestel.REGISTER_MAP)), st.integers(min_value=2, max_value=125))
def test_any_read_plan_is_gap_free_and_covers_exactly_what_was_asked(registers, max_count):
    plan = vestel.plan_reads(registers, max_count=max_count)
    covered = set()
    for run in plan:
        assert 1 <= run.count <= max(max_count, max(r.count for r in run.registers))
        assert vestel.unlisted_in(run.kind, run.address, run.count) == []
        assert run.registers[0].address == run.address
        assert run.registers[-1].end == run.address + run.count
        covered.update(run.registers)
    assert covered == set(registers)


def test_status_plan_is_derived_from_the_map():
    status_regs = {reg for run in vestel.STATUS_PLAN for reg in run.registers}
    assert {r.name for r in status_regs} == set(vestel.STATUS_REGISTERS)
    # Contiguous listed registers share a request: fault code (1006-1007) and L1 current (1008).
    assert any(run.address == 1006 and run.count == 3 for run in vestel.STATUS_PLAN)


def test_status_groups_cover_the_status_registers_once_and_each_request_is_short():
    names = [name for group in vestel.STATUS_GROUPS.values() for name in group]
    assert sorted(names) == sorted(vestel.STATUS_REGISTERS)
    for plan in vestel.STATUS_GROUP_PLANS.values():
        for run in plan:
            assert vestel.unlisted_in(run.kind, run.address, run.count) == []
            assert run.count <= 3  # a pending setpoint never waits behind a long answer
    assert len(vestel.STATUS_GROUP_PLANS["state"]) == 4


# --- plausibility ------------------------------------------------------------------------------------


@given(
    st.integers(0, 8), st.integers(0, 1), st.integers(0, 4), st.integers(0, 3),
    st.lists(st.integers(0, 80_000), min_size=3, max_size=3), st.integers(6, 80), st.sampled_from([1, 3]),
    st.floats(0, 1),
)  # fmt: skip
def test_values_within_physical_bounds_are_believed(cp, charging, equipment, cable, currents, evse_max, phases, share):
    values = {
        "chargepoint_state": cp, "charging_state": charging, "equipment_state": equipment, "cable_state": cable,
        "current_l1_ma": currents[0], "current_l2_ma": currents[1], "current_l3_ma": currents[2],
        "evse_max_a": evse_max, "session_max_a": evse_max, "cable_max_a": 0, "failsafe_current_a": 6,
        "setpoint_a": 0, "power_w": int(share * power_bound_w(phases, evse_max)),
    }  # fmt: skip
    assert implausible(values, phases) == {}


@given(st.sampled_from(["chargepoint_state", "cable_state", "evse_max_a", "setpoint_a", "power_w",
                        "current_l2_ma", "failsafe_current_a"]),
       st.sampled_from([999, 0xFFFF, 0xFFFFFFFF]))
def test_any_value_outside_its_bounds_is_named_with_register_and_value(name, value):
    if name.endswith("_ma"):
        value = 80_001 + value % 1000  # a uint16 of mA tops out at 65.5 A: only above 80 A is impossible
    if name == "power_w":
        value = max(value, 0xFFFF)  # 999 W is a real power
    found = implausible({"evse_max_a": 32, name: value})
    assert set(found) == {name}
    reg = vestel.REGISTERS[name]
    assert f"register {reg.address}" in found[name] or f"registers {reg.address}-" in found[name]
    assert (str(value) in found[name]) or (f"{value / 1000:g}" in found[name])


# --- client ----------------------------------------------------------------------------------------


def test_identity_and_status_are_read_without_spanning_unlisted_addresses(sim):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    assert client.describe() == f"Modbus TCP 127.0.0.1:{sim.port} unit 255"
    assert client.connect()
    try:
        client.write_failsafe(10, 20)
        client.write_setpoint(16)
        sim.plug_in(car_max_a=32)
        identity = client.read_identity()
        status = client.read_status()
    finally:
        client.close()
    assert identity.brand == "Vestel"
    assert identity.serial == "SIM2024000001"
    assert identity.phases == 3
    assert identity.max_power_w == 32 * 230 * 3
    assert status.car_connected and status.cable_state == 3
    assert status.charging and status.chargepoint_state == 2
    assert status.currents_a == (16.0, 16.0, 16.0)
    assert status.power_w == 16 * 230 * 3
    assert status.meter_wh == int(sim.meter_wh // 100) * 100
    assert (status.failsafe_current_a, status.failsafe_timeout_s, status.setpoint_a) == (10, 20, 16)
    assert status.evse_min_a == 6
    assert status.limit_a == 32
    reads = [r for r in sim.requests if r.function_code in (3, 4)]
    assert len(reads) == len(vestel.IDENTITY_PLAN) + len(vestel.STATUS_PLAN)
    assert all(r.unlisted == () for r in sim.requests), [r for r in sim.requests if r.unlisted]
    assert {r.function_code for r in sim.requests} <= {3, 4, 6}


def test_limit_is_the_smallest_reported_maximum():
    base = dict(
        chargepoint_state=0, charging=False, equipment_state=1, cable_state=0, fault_code=0,
        currents_a=(0.0, 0.0, 0.0), power_w=0, meter_wh=0, evse_min_a=6, session_energy_wh=0,
        box_time_hhmmss=0, failsafe_current_a=6, failsafe_timeout_s=20, setpoint_a=0,
    )  # fmt: skip
    assert WallboxStatus(session_max_a=32, evse_max_a=16, cable_max_a=20, **base).limit_a == 16
    assert WallboxStatus(session_max_a=0, evse_max_a=32, cable_max_a=0, **base).limit_a == 32
    assert WallboxStatus(session_max_a=0, evse_max_a=0, cable_max_a=0, **base).limit_a is None
    assert not WallboxStatus(session_max_a=0, evse_max_a=0, cable_max_a=0, **base).car_connected


def test_exception_answer_raises_a_readable_error(sim):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    client.connect()
    try:
        with pytest.raises(WallboxError) as err:
            client.read_run(vestel.ReadRun(vestel.INPUT, 1000, 5, ()))
    finally:
        client.close()
    message = str(err.value)
    assert "1000-1004" in message and "ILLEGAL ADDRESS" in message and f"127.0.0.1:{sim.port}" in message


@pytest.mark.parametrize("current_a", [1, 3, 5, -1, 64])
def test_setpoints_of_one_to_five_amps_are_refused_before_anything_is_sent(sim, current_a):
    client = VestelClient.tcp("127.0.0.1", sim.port)
    client.connect()
    try:
        with pytest.raises(ValueError, match="not allowed"):
            client.write_setpoint(current_a)
        with pytest.raises(ValueError):
            client.write_failsafe(current_a, 20)
    finally:
        client.close()
    assert sim.writes == []
