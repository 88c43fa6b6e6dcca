"""The shared Modbus server thread: serves until stop(), and says why when it cannot start."""

from __future__ import annotations

import socket

import pytest

from appliance.chargers.vestel_meter.meter_server import MeterServer
from appliance.modbus_server_thread import ServerStartError
from appliance.sim.wallbox import SimulatedWallbox


def test_a_busy_port_is_a_clear_error_and_leaves_nothing_running():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        box = SimulatedWallbox()
        with pytest.raises(RuntimeError, match="could not start") as info:
            box.serve_tcp("127.0.0.1", port)
        assert isinstance(info.value.__cause__, ServerStartError)
        assert not box._serving.running
        assert box.serve_tcp("127.0.0.1", 0) > 0   # and it can serve elsewhere afterwards
        box.stop()


def test_a_meter_port_that_cannot_be_opened_is_reported_not_raised(tmp_path):
    meter = MeterServer(str(tmp_path / "no-such-tty"), values=lambda: None, parity="N")
    meter.start()
    assert meter.error and "could not be opened" in meter.error
    meter.stop()
