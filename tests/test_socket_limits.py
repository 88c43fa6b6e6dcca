"""The control socket under abuse, over a real Unix socket: bounded clients, limited requests,
no log flood, and a listener that survives running out of file descriptors."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime

import pytest

from appliance.commands import validate
from appliance.control_socket import MAX_CLIENTS, ControlServer, send_command
from appliance.core import ApplianceCore, Clocks
from appliance.logsummary import RepeatSummarizer
from appliance.policy.control import PolicySettings
from control_client import raw_exchange


@pytest.fixture
def server(tmp_path):
    calls = []

    def handle(command):
        calls.append(command)
        return {"ok": True, "mode": command.get("mode", "fast")}

    srv = ControlServer(tmp_path / "control.sock", handle)
    srv.start()
    srv.calls = calls
    yield srv
    srv.stop()


def test_deep_long_and_huge_requests_are_refused_cleanly_and_counted(server):
    deep = b"[" * 30_000 + b"]" * 30_000 + b"\n"
    digits = b'{"command": "pause", "minutes": ' + b"9" * 5000 + b"}\n"
    got = raw_exchange(server.path, deep, digits, b'{"command": "status"}\n')
    assert got[0]["ok"] is False and "nested too deeply" in got[0]["error"]
    assert got[1]["ok"] is False and "number longer than" in got[1]["error"]
    assert got[2]["ok"] is True
    huge = raw_exchange(server.path, b'{"command": "status", "x": "' + b"a" * 1_000_000 + b'"}\n')
    assert huge[0]["ok"] is False and "longer than" in huge[0]["error"]
    assert server.rejected.as_dict() == {"depth": 1, "digits": 1}
    assert send_command(server.path, "status")["ok"] is True
    assert server.calls == [{"command": "status"}, {"command": "status"}]


def test_held_connections_are_bounded_and_cost_no_threads(server):
    threads_before = threading.active_count()
    held = []
    try:
        for _ in range(MAX_CLIENTS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(server.path))
            held.append(s)
        deadline = time.monotonic() + 5
        while len(server._loop.clients) < MAX_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.01)
        # The pool is full: one more is told so and closed, it does not wait forever.
        busy = raw_exchange(server.path, b'{"command": "status"}\n')
        assert busy[0]["ok"] is False and "already serves" in busy[0]["error"]
        assert threading.active_count() == threads_before
        # A held client is still served while the others idle.
        held[0].settimeout(5)
        held[0].sendall(b'{"command": "status"}\n')
        assert json.loads(held[0].recv(4096))["ok"] is True
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while True:  # the closes reach the server's loop asynchronously
        try:
            assert send_command(server.path, "status", timeout_s=1)["ok"] is True
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert server._loop.turned_away >= 1


def test_2000_identical_mode_commands_give_one_log_line_not_2000(tmp_path, caplog):
    core = ApplianceCore(PolicySettings())
    t0 = datetime(2026, 6, 21, 12, 0)
    summarizer = RepeatSummarizer(clock=lambda: 0.0)
    handler = caplog.handler
    handler.addFilter(summarizer)
    caplog.set_level(logging.INFO, "appliance")

    def handle(command):
        valid, error = validate(command)
        return core.command(valid, Clocks(0.0, t0, 1_790_000_000.0))

    try:
        with ControlServer(tmp_path / "c.sock", handle) as srv:
            got = raw_exchange(srv.path, *[b'{"command": "mode", "mode": "pv"}\n'] * 2000, timeout_s=20)
        assert len(got) == 2000 and all(a["ok"] for a in got)
        summarizer.clock = lambda: 61.0
        summarizer.flush()
    finally:
        handler.removeFilter(summarizer)
    lines = [r.getMessage() for r in caplog.records if "Mode is now" in r.getMessage()
             or "more like" in r.getMessage()]
    # The first changes the mode; the 1,999 repeats change nothing and say nothing.
    assert lines == ["Mode is now pv (was fast)."], lines


EMFILE_SERVER = textwrap.dedent("""
    import logging, os, resource, sys, time
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    from appliance.control_socket import ControlServer
    srv = ControlServer(sys.argv[1], lambda c: {"ok": True})
    srv.start()
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    hogs = []
    try:
        while True:
            hogs.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    print("FULL", flush=True)
    sys.stdin.readline()          # the test has knocked while no descriptor was free
    for fd in hogs:
        os.close(fd)
    print("FREED", flush=True)
    sys.stdin.readline()
    srv.stop()
""")


def test_listener_out_of_descriptors_backs_off_logs_once_and_recovers(tmp_path):
    path = tmp_path / "c.sock"
    proc = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=os.getcwd())
    seen: list[str] = []

    def wait_for(word: str) -> None:
        while not seen or word not in seen[-1]:
            line = proc.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)

    try:
        wait_for("FULL")
        knockers = []
        for _ in range(5):  # accepted by the kernel, refused by the full process
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            knockers.append(s)
        time.sleep(1.0)  # several back-off rounds pass: they must not each log
        proc.stdin.write("\n")
        proc.stdin.flush()
        wait_for("FREED")
        try:
            recovered = send_command(path, "status", timeout_s=5)["ok"]
        except Exception as e:
            recovered = e
        for s in knockers:
            s.close()
        proc.stdin.write("\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    out = "".join(seen) + out
    assert recovered is True, out
    assert proc.returncode == 0, out
    assert out.count("cannot accept connections") == 1, out
    assert "Accepting connections again." in out
