"""The runtime's order of work: the charger first at start and last at stop, the setpoint handed
over every cycle. A small charger that implements the interface (appliance.chargers.base) records
what it was told; the FTP receiver, the control socket and the control thread are the real ones."""

import threading

from appliance.chargers.base import Charger, ChargerHealth, ChargerIdentity, ChargerReading
from appliance.config import Settings, with_overrides
from appliance.runtime import Runtime
from waiting import wait_until as wait_for


class RecordingCharger:
    """A charger that is always there and holds what it is told."""

    kind = "ems"
    link_hint = "nothing to check"

    def __init__(self):
        self.runtime = None
        self.events: list[str] = []
        self.setpoints: list[int] = []
        self.clock_s = 0.0

    def start(self) -> None:
        self.events.append("charger started; FTP listening: "
                           f"{self.runtime.receiver._server is not None}")

    def stop(self) -> None:
        self.events.append("charger stopped; FTP listening: "
                           f"{self.runtime.receiver._server is not None}")

    def set_setpoint(self, current_a: int) -> None:
        self.setpoints.append(current_a)

    def reading(self) -> ChargerReading | None:
        import time

        return ChargerReading(at_s=time.monotonic(), car_connected=True, charging=False, power_w=0.0,
                              currents_a=(0.0, 0.0, 0.0), limit_a=20)

    def health(self) -> ChargerHealth:
        return ChargerHealth(connected=True, holding=True)

    def identity(self) -> ChargerIdentity | None:
        return ChargerIdentity(kind="ems", description="recording charger")


def test_the_charger_starts_first_stops_last_and_gets_the_setpoint_every_cycle(tmp_path):
    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    charger = RecordingCharger()
    assert isinstance(charger, Charger)
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1", cycle_s=0.05)
    charger.runtime = runtime
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        # No inverter data: the allowance alone, capped by the box's own limit of 20 A.
        assert wait_for(lambda: charger.setpoints.count(15) >= 3)
        assert runtime.command("mode", mode="off")["ok"]
        assert wait_for(lambda: charger.setpoints[-1] == 0)
    finally:
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()
    assert charger.events == ["charger started; FTP listening: False",
                              "charger stopped; FTP listening: False"]
