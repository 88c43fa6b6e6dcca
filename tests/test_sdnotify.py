"""sd_notify client against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import uuid

import pytest

from appliance.sdnotify import SystemdNotifier


@pytest.fixture
def listener(tmp_path):
    """A datagram socket bound where systemd's NOTIFY_SOCKET would be; yields (address, receive)."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)

    def receive() -> list[str]:
        return sock.recv(4096).decode("utf-8").split("\n")

    yield path, receive
    sock.close()


def test_ready_status_watchdog_stopping_arrive_as_datagrams(listener):
    path, receive = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled

    assert notifier.ready("Charging at 16 A")
    assert receive() == ["READY=1", "STATUS=Charging at 16 A"]
    assert notifier.ready()
    assert receive() == ["READY=1"]
    assert notifier.status("Paused\nby button")
    assert receive() == ["STATUS=Paused by button"]  # a newline would start a new field
    assert notifier.watchdog()
    assert receive() == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert receive() == ["STOPPING=1"]
    notifier.close()


def test_abstract_socket_name_with_at_sign():
    name = f"wallbox-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.close()
    finally:
        sock.close()


def test_everything_is_a_no_op_without_notify_socket(tmp_path):
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    assert notifier.watchdog_interval_s is None


def test_default_environment_is_the_process_environment(listener, monkeypatch):
    path, receive = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = SystemdNotifier()
    assert notifier.watchdog_interval_s == 30.0
    assert notifier.watchdog()
    assert receive() == ["WATCHDOG=1"]
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected_s"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "__self__"}, 2.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_environment(environ, expected_s):
    environ = {k: (str(os.getpid()) if v == "__self__" else v) for k, v in environ.items()}
    assert SystemdNotifier(environ).watchdog_interval_s == expected_s


def test_watchdog_pid_of_the_child_process_is_honoured(tmp_path):
    # A child started with the parent's variables must not think the watchdog watches it.
    code = (
        "from appliance.sdnotify import SystemdNotifier; "
        "print(SystemdNotifier().watchdog_interval_s)"
    )
    env = dict(os.environ, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid()))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=30)
    assert out.stdout.strip() == "None"


def test_missing_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    path = str(tmp_path / "gone.sock")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    with caplog.at_level(logging.WARNING, logger="appliance.sdnotify"):
        for _ in range(5):
            assert notifier.watchdog() is False
    warnings = [r for r in caplog.records if "Could not tell systemd" in r.getMessage()]
    assert len(warnings) == 1
    assert "gone.sock" in warnings[0].getMessage()

    # systemd is back: pings go through again.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    try:
        assert notifier.watchdog() is True
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        notifier.close()
        sock.close()
