"""The runtime's order of work: the charger first at start and last at stop, the setpoint handed
over every cycle. A small charger that implements the interface (appliance.chargers.base) records
what it was told; the FTP receiver, the control socket and the control thread are the real ones."""

import threading

import pytest

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

    def _ftp_listening(self) -> bool:
        receiver = self.runtime.receiver
        return receiver is not None and receiver._server is not None

    def start(self) -> None:
        self.events.append(f"charger started; FTP listening: {self._ftp_listening()}")

    def stop(self) -> None:
        self.events.append(f"charger stopped; FTP listening: {self._ftp_listening()}")

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
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
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


PUSH_ONLY = {"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"}


def run_with_source(tmp_path, fronius: dict, **sections):
    """The runtime on its own thread with a recording charger; `sections` add to the settings."""
    settings = with_overrides(Settings(), **{
        "fronius": fronius, "control": {"ramp_up_interval_s": 0.0}, "display": {"backend": "none"},
        "button": {"pin": 0}, "web": {"enabled": False},
        "state": {"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")},
        **sections})
    charger = RecordingCharger()
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1", cycle_s=0.05)
    charger.runtime = runtime
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    return runtime, charger, thread


def test_source_sunspec_and_source_solar_api_feed_the_core_without_an_ftp_server(tmp_path):
    from appliance.sim.sunspec_inverter import SimulatedSunSpecInverter

    inverter = SimulatedSunSpecInverter(battery=False)
    inverter.set(production_w=5600.0, house_w=300.0)
    for fronius in ({"source": "sunspec", "sunspec_host": "127.0.0.1", "sunspec_port": inverter.serve_tcp(),
                     "solar_api_interval_s": 1.0},
                    {"source": "solar_api", "solar_api_url": f"http://127.0.0.1:{inverter.serve_solar_api()}",
                     "solar_api_interval_s": 1.0}):
        runtime, charger, thread = run_with_source(tmp_path / fronius["source"], fronius)
        try:
            assert runtime.receiver is None          # no FTP password needed, no FTP port opened
            # (11000 + 5600) / 690 = 24 A, capped by the box's own limit of 20 A.
            assert wait_for(lambda: charger.setpoints and charger.setpoints[-1] == 20)
            assert runtime.core.accepted_pushes >= 1
        finally:
            runtime.stop()
            thread.join(timeout=5)
            runtime.close()
    inverter.stop()


def test_the_wallbox_kind_picks_the_driver():
    import time

    from appliance.chargers.vestel_ems import EmsCharger
    from appliance.chargers.vestel_meter import MeterCharger
    from appliance.runtime import make_charger

    basic = with_overrides(Settings(), wallbox={"kind": "meter", "transport": "rtu",
                                                "serial_port": "/dev/null", "dip_limit_a": 16})
    driver = make_charger(basic, time.monotonic)
    assert isinstance(driver, MeterCharger) and isinstance(driver, Charger) and driver.kind == "meter"
    ems = with_overrides(Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": 502})
    assert isinstance(make_charger(ems, time.monotonic), EmsCharger)


def test_a_dimming_edge_lowers_the_current_in_the_cycle_it_wakes(tmp_path):
    from appliance.dimming import DimmingMonitor, DimmingSettings, FakeDimmingPin

    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False}, dimming={"pin": 5},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    charger = RecordingCharger()
    # A long cycle: only the edge's own event can bring the new allowance in time.
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1", cycle_s=30.0)
    charger.runtime = runtime
    pin = FakeDimmingPin(high=True)                     # contact open: not dimmed
    runtime.dimming = DimmingMonitor(DimmingSettings.from_settings(settings), pin, tmp_path / "state")
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: charger.setpoints[-1:] == [15])
        pin.set_high(False)                             # the control box closes its contact
        assert wait_for(lambda: charger.setpoints[-1] == 6, timeout_s=2)   # 4200 W / 690 W/A
        assert runtime.status()["budget_w"] <= 4200
    finally:
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_web_page_shows_the_core_status_and_the_screen(tmp_path):
    import json
    import urllib.request

    port = free_port()
    runtime, charger, thread = run_with_source(
        tmp_path, PUSH_ONLY, web={"enabled": True, "host": "127.0.0.1", "port": port, "password": ""})
    try:
        assert runtime.remote.web is not None
        assert wait_for(lambda: charger.setpoints[-1:] == [15])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as answer:
            state = json.loads(answer.read())
        assert state["setpoint_a"] == 15 and state["mode"] == "fast" and state["pv_stale"] is True
        # The page's picture of the screen comes from the control cycle.
        assert wait_for(lambda: runtime.remote.snapshot() is not None)
        assert runtime.remote.snapshot().setpoint_a == 15
    finally:
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()


def test_home_assistant_commands_over_mqtt_reach_the_core(tmp_path):
    from test_mqtt import Listener, start_broker, stop_broker

    broker, port = start_broker(tmp_path)
    runtime, charger, thread = run_with_source(
        tmp_path, PUSH_ONLY, mqtt={"host": "127.0.0.1", "port": port, "client_id": "wallbox-runtime-test"})
    listener = None
    try:
        assert runtime.remote.mqtt.listening.wait(5)
        listener = Listener(port)
        listener.client.publish("wallbox/mode/set", "off", qos=1)
        assert wait_for(lambda: runtime.core.state.mode == "off" and charger.setpoints[-1] == 0)
        assert wait_for(lambda: listener.last("wallbox/mode") == "off")
    finally:
        if listener is not None:
            listener.close()
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()
        stop_broker(broker)


def test_a_push_going_stale_lowers_the_current_on_time_with_nothing_in_the_inbox(tmp_path):
    """The control thread sleeps until the core's next deadline: no tick every second, and still
    the allowance alone counts from the moment the push is stale_after_s old."""
    import ftplib
    import io
    import time

    from test_ftp_receiver import powerflow

    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    charger = RecordingCharger()   # no on_change: the runtime looks at it every CHARGER_LOOK_S (5 s)
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1",
                      policy_overrides={"stale_after_s": 1.5, "ramp_up_interval_s": 0.0})
    charger.runtime = runtime
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: charger.setpoints[-1:] == [15])
        ftp = ftplib.FTP()
        ftp.connect(*runtime.receiver.address, timeout=5)
        ftp.login("fronius", "pw")
        ftp.storbinary("STOR powerflow.json", io.BytesIO(powerflow(5600.0)))
        ftp.quit()
        assert wait_for(lambda: charger.setpoints[-1] == 20)    # 24 A, the box's own limit 20 A
        pushed_s = runtime.core.readings.pv_at_s
        handed = len(charger.setpoints)
        assert wait_for(lambda: charger.setpoints[-1] == 15, timeout_s=4.0)
        late_s = time.monotonic() - pushed_s - 1.5
        assert -0.01 <= late_s < 1.0, late_s      # at the deadline, not at the next 5 s look
        assert len(charger.setpoints) - handed <= 3   # a few cycles, not one every second
    finally:
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()


def test_the_control_thread_wakes_for_the_watchdog_the_wallbox_the_screen_and_the_backlight(
        tmp_path, monkeypatch):
    from datetime import datetime

    import appliance.runtime as runtime_module
    from appliance.sdnotify import SystemdNotifier

    now = [100.0]
    wall = [datetime(2026, 6, 21, 12, 0, 20)]
    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none", "backlight_timeout_s": 45}, button={"pin": 0}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})

    def runtime_with(notifier=None, on_frame=None):
        return Runtime(settings, charger=RecordingCharger(), ip_address="127.0.0.1", clock=lambda: now[0],
                       wall_clock=lambda: wall[0], notifier=notifier, on_frame=on_frame)

    quiet = runtime_with()
    quiet.cycle()
    assert quiet._next_cycle_s == now[0] + runtime_module.CHARGER_LOOK_S   # a look at the wallbox
    watched = runtime_with(notifier=SystemdNotifier({"WATCHDOG_USEC": "4000000"}))
    watched.cycle()
    assert watched._next_cycle_s == now[0] + 2.0                 # half the watchdog's period
    # Beyond the wallbox's look: the screen's clock (12:01 in 40 s), then the backlight (dark 45 s
    # after the start) once the clock is further off.
    monkeypatch.setattr(runtime_module, "CHARGER_LOOK_S", 1e9)
    screen = runtime_with(on_frame=lambda image: None)
    screen.cycle()
    assert screen._next_cycle_s == pytest.approx(now[0] + 40.0, abs=0.02)
    wall[0] = datetime(2026, 6, 21, 12, 0, 5)
    screen.cycle()
    assert screen._next_cycle_s == pytest.approx(now[0] + 45.0, abs=0.02)


def test_a_charger_that_says_when_it_changed_wakes_the_control_thread(tmp_path):
    class TellingCharger(RecordingCharger):
        def on_change(self, callback):
            self.callback = callback

    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    charger = TellingCharger()
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1")
    charger.runtime = runtime
    runtime.start()
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(charger.setpoints) >= 1)
        handed = len(charger.setpoints)
        charger.callback()                  # from the driver's thread: a new reading or health
        assert wait_for(lambda: len(charger.setpoints) > handed, timeout_s=2.0)   # before the 5 s look
        handed = len(charger.setpoints)
        for _ in range(5):                  # the web page or MQTT asking: answered, no cycle
            assert runtime.status()["setpoint_a"] == 15 and runtime.command("status")["ok"]
        assert len(charger.setpoints) - handed <= 1   # at most the 5 s look, if it fell in here
    finally:
        runtime.stop()
        thread.join(timeout=5)
        runtime.close()


def test_a_failing_deadline_or_snapshot_does_not_stop_the_control_loop(tmp_path, caplog):
    now = [50.0]
    settings = with_overrides(
        Settings(), fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"},
        display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    charger = RecordingCharger()
    runtime = Runtime(settings, charger=charger, ip_address="127.0.0.1", clock=lambda: now[0],
                      on_frame=lambda image: None)

    def broken(*_args):
        raise ValueError("a bug")

    runtime.core.next_deadline_s = broken
    runtime.snapshot = broken
    runtime.cycle()
    assert charger.setpoints == [15]              # the wallbox was still told
    assert runtime._next_cycle_s == now[0] + 1.0  # and the loop wakes each second, as before
    assert "the next one is in 1 s" in caplog.text and "snapshot failed" in caplog.text
