"""The systemd watchdog is fed by the control loop itself, and `wallbox probe` reads a real wallbox."""


import socket
import threading
import time

from appliance.config import Settings, with_overrides
from appliance.probe import probe
from appliance.sdnotify import SystemdNotifier
from appliance.commands import Request
from appliance.policy.types import Command
from appliance.runtime import Runtime
from appliance.sim.wallbox import SimulatedWallbox
from waiting import wait_until as wait_for


def test_watchdog_pings_stop_when_the_control_loop_is_stuck(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    listener.bind(path)
    listener.settimeout(0.05)
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp()
    settings = with_overrides(
        Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": port},
        fronius={"ftp_host": "127.0.0.1", "ftp_port": 0, "ftp_password": "pw"}, display={"backend": "none"}, web={"enabled": False},
        state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
    # A fast control cycle (0.1 s) so the test needs a second, not five; the thread is real.
    service = Runtime(settings, notifier=SystemdNotifier({"NOTIFY_SOCKET": path}), cycle_s=0.1,
                      ip_address="127.0.0.1")
    release = threading.Event()
    thread = threading.Thread(target=service.run, daemon=True)

    def messages_for(seconds):
        got = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                got.append(listener.recv(4096).decode())
            except socket.timeout:
                pass
        return got

    try:
        service.start()
        thread.start()
        first = messages_for(1.0)
        for _ in range(10):              # a loaded machine may run fewer cycles in the first second
            if sum(m == "WATCHDOG=1" for m in first) >= 3:
                break
            first += messages_for(0.5)
        assert any(m.startswith("READY=1") for m in first)
        assert sum(m == "WATCHDOG=1" for m in first) >= 3   # about one per control cycle
        # A command that hangs the control thread: the pings must stop with it.
        blocking = _Blocking(release)
        service.inbox.put(("command", (Request(Command.STATUS), blocking)))
        assert blocking.entered.wait(10)   # the control thread is now stuck in it
        messages_for(0.05)                 # a ping sent just before is still in the socket
        stuck = messages_for(0.8)
        assert "WATCHDOG=1" not in stuck
        # The wallbox heartbeat has its own thread and goes on.
        assert wait_for(lambda: wallbox.alive_writes > 0, 20)
    finally:
        release.set()
        service.stop()
        thread.join(timeout=5)
        service.close()
        wallbox.stop()
        listener.close()


class _Blocking:
    """Stands in for the answer queue; put() blocks like a control loop stuck in a call."""

    def __init__(self, release):
        self.release = release
        self.entered = threading.Event()

    def put(self, _answer):
        self.entered.set()
        self.release.wait(10)


def test_probe_prints_identity_and_live_values():
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp()
    wallbox.plug_in()
    lines = []
    try:
        settings = with_overrides(Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": port})
        assert probe(settings, out=lines.append) == 0
    finally:
        wallbox.stop()
    text = "\n".join(lines)
    assert "Vestel" in text and "Serial number" in text
    assert "vehicle connected" in text


def test_probe_without_a_wallbox_says_so():
    settings = with_overrides(Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": 1})
    lines = []
    assert probe(settings, out=lines.append) == 1
    assert lines[-1].startswith("No answer:")
