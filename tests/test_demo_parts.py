"""The demo's parts: one clock in its log lines, a car that is full at its target, and the
runtime reading each inverter source (Solar API, SunSpec) of the simulated GEN24 on loopback."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.runtime import Runtime
from appliance.sim.demo import demo_settings, in_day_time
from appliance.sim.demo_parts import CarBattery, DemoEmsWallbox, make_source


def test_log_durations_are_said_in_the_compressed_days_time():
    assert in_day_time("raising to 17 A allowed in 4 s", 900.0) == "raising to 17 A allowed in 60 min"
    assert in_day_time("Inverter data is 5 s old (limit 5 s)", 900.0) == \
        "Inverter data is 75 min old (limit 75 min)"
    assert in_day_time("failsafe 15 A after 20 s", 900.0) == "failsafe 15 A after 5.0 h"
    assert in_day_time("PV 4.4 kW, meter 1234600 Wh", 900.0) == "PV 4.4 kW, meter 1234600 Wh"


def test_the_car_holds_60_kwh_and_stops_drawing_when_full():
    car = CarBattery()
    assert car.needed_wh == pytest.approx(42_000.0)
    assert car.soc_pct(21_000.0) == pytest.approx(65.0)
    assert not car.full(41_999.0) and car.full(42_000.0)
    assert car.soc_pct(99_000.0) == 100.0       # never more than a battery holds

    wallbox = DemoEmsWallbox()
    wallbox.plug_in(car_max_a=32)
    assert wallbox.power_w > 0
    wallbox.car_full()
    assert wallbox.power_w == 0 and wallbox.car_connected


@pytest.mark.parametrize("source", ["solar_api", "sunspec"])
def test_the_runtime_reads_the_simulated_gen24(tmp_path, source):
    wallbox = DemoEmsWallbox()
    port = wallbox.serve_tcp("127.0.0.1", 0)
    wallbox.plug_in(car_max_a=32)
    data = make_source(source, lambda: 500.0, lambda: float(wallbox.power_w), time.monotonic, 1.0)
    data.update(6000.0)
    settings = demo_settings("pw-unused-here", port, tmp_path, source=data.settings)
    runtime = Runtime(settings)
    runtime.start()
    control = threading.Thread(target=runtime.run, daemon=True)
    control.start()
    try:
        deadline = time.monotonic() + 8
        while runtime.core.accepted_pushes == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.receiver is None          # no FTP server for a polled source
        assert runtime.core.accepted_pushes > 0
        status = runtime.status()
        assert status["pv_w"] is not None and status["pv_w"] > 0
    finally:
        runtime.stop()
        control.join(5)
        runtime.close()
        data.close()
        wallbox.stop()


def test_probe_inverter_asks_the_running_service_whether_pushes_arrived(tmp_path):
    from appliance.probe import probe_inverter_cmd
    from appliance.sim.inverter import SimulatedInverter

    wallbox = DemoEmsWallbox()
    port = wallbox.serve_tcp("127.0.0.1", 0)
    settings = demo_settings("a-push-password", port, tmp_path)
    runtime = Runtime(settings)
    runtime.start()
    control = threading.Thread(target=runtime.run, daemon=True)
    control.start()
    lines: list[str] = []
    try:
        host, ftp_port = runtime.receiver.address
        inverter = SimulatedInverter(host=host, port=ftp_port, user=settings.fronius.ftp_user,
                                     password="a-push-password", pv_w=lambda: 3000.0, house_w=lambda: 400.0,
                                     car_w=lambda: 0.0)
        assert inverter.push_once()
        deadline = time.monotonic() + 5
        while runtime.core.accepted_pushes == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Nothing answers at port 1: only the pushes are there.
        code = probe_inverter_cmd("127.0.0.1", http_port=1, modbus_port=1,
                                  control_socket=settings.state.control_socket, out=lines.append)
    finally:
        runtime.stop()
        control.join(5)
        runtime.close()
        wallbox.stop()
    text = "\n".join(lines)
    assert "Pushes arrive" in text and "accepted by the running service" in text
    assert code == 0 and 'source = "push"' in text
