"""The FTP receiver holds its ground: idle strangers, password guessing, trickling uploads,
absurd pushes and a process out of file descriptors never lock the inverter out."""

from __future__ import annotations

import ftplib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from appliance.sources.ftp_guard import AcceptBackoff, Admission
from appliance.sources.ftp_receiver import LOGIN_TIMEOUT_S, parse_port_range
from tests.test_ftp_receiver import PASSWORD, USER, FakeClock, connect, make_receiver, powerflow, upload  # noqa: F401


def test_login_timeout_default_is_within_15_s():
    assert LOGIN_TIMEOUT_S <= 15


def test_a_connection_that_never_logs_in_is_closed(make_receiver):
    receiver, _ = make_receiver(login_timeout_s=0.3)
    ftp = connect(receiver, login=False)
    started = time.monotonic()
    with pytest.raises((ftplib.error_temp, EOFError, ConnectionError)) as info:
        ftp.voidcmd("NOOP")  # answered, keeps the connection busy but not logged in
        time.sleep(0.6)
        ftp.voidcmd("NOOP")
    assert time.monotonic() - started < 3
    ftp.close()
    assert "421" in str(info.value) or not isinstance(info.value, ftplib.error_temp)
    assert receiver.admission.open == {}  # the slot is free again


def test_idle_strangers_cannot_lock_out_the_inverter(make_receiver):
    receiver, inbox = make_receiver(max_connections=6, max_connections_per_ip=2)
    with connect(receiver) as inverter:  # 127.0.0.1 pushes once: now it is the inverter
        upload(inverter, "first.json", powerflow(1000.0))
    assert inbox.wait(measurements=1)
    strangers = []
    for n in range(2, 12):  # ten strangers try; only the unreserved slots go to them
        try:
            strangers.append(connect(receiver, source_ip=f"127.0.0.{n}", login=False))
        except (ftplib.error_temp, EOFError, ConnectionError):
            pass
    assert len(strangers) == 4
    with connect(receiver) as inverter:
        upload(inverter, "second.json", powerflow(2000.0))
    assert inbox.wait(measurements=2)
    for ftp in strangers:
        ftp.close()


def test_five_failed_logins_block_the_address_for_ten_minutes(make_receiver, caplog):
    clock = FakeClock()
    receiver, inbox = make_receiver(auth_failed_delay_s=0.01, clock=clock)
    for _ in range(5):
        ftp = connect(receiver, source_ip="127.0.0.7", login=False)
        with pytest.raises(ftplib.error_perm):
            ftp.login(USER, "wrong")
        ftp.close()
    with pytest.raises((ftplib.error_temp, EOFError, ConnectionError)):
        connect(receiver, source_ip="127.0.0.7", login=False).login(USER, PASSWORD)
    blocked_lines = [r for r in caplog.records if "blocked for 10 minutes" in r.getMessage()]
    assert len(blocked_lines) == 1 and "127.0.0.7" in blocked_lines[0].getMessage()
    with connect(receiver, source_ip="127.0.0.8") as other:  # other addresses go on
        upload(other, "ok.json", powerflow(500.0))
    clock.now += 601
    with connect(receiver, source_ip="127.0.0.7") as again:
        upload(again, "later.json", powerflow(600.0))
    assert inbox.wait(measurements=2)


def free_port_range(count: int) -> tuple[int, int]:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            low = s.getsockname()[1]
        if low + count > 65535:
            continue
        try:
            socks = []
            for p in range(low, low + count):
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
        return low, low + count - 1
    pytest.skip("no free port range")


def test_passive_ports_come_from_the_setting(make_receiver):
    low, high = free_port_range(3)
    receiver, inbox = make_receiver(passive_ports=f"{low}-{high}")
    with connect(receiver) as ftp:
        _, port = ftp.makepasv()
        assert low <= port <= high
        upload(ftp, "p.json", powerflow(700.0))
    assert inbox.wait(measurements=1)


def test_passive_port_range_is_checked():
    assert parse_port_range("") is None
    assert parse_port_range("50000-50002") == [50000, 50001, 50002]
    for bad in ("80-90", "abc", "60000-50000", "50000-70000"):
        with pytest.raises(ValueError, match="passive_ports"):
            parse_port_range(bad)


def test_a_trickling_upload_is_cut(make_receiver):
    receiver, inbox = make_receiver(upload_time_limit_s=0.4)
    ftp = connect(receiver)
    conn = ftp.transfercmd("STOR slow.json")
    started = time.monotonic()
    with pytest.raises(OSError):
        while time.monotonic() - started < 3:
            conn.sendall(b"{")
            time.sleep(0.05)
    conn.close()
    assert inbox.wait(rejected=1)
    assert "still running after 0.4 s" in inbox.rejected[0][1]
    ftp.close()


def test_a_5000_digit_number_is_rejected_and_counted(make_receiver, caplog):
    receiver, inbox = make_receiver()
    doc = json.loads(powerflow(1.0))
    text = json.dumps(doc).replace('"P_PV": 1.0', '"P_PV": ' + "9" * 5000)
    with connect(receiver) as ftp:
        upload(ftp, "huge.json", text.encode())
        upload(ftp, "fine.json", powerflow(800.0))
    assert inbox.wait(measurements=1, rejected=1)
    assert receiver.rejected_count == 1 and receiver.accepted_count == 1
    assert not [r for r in caplog.records if r.exc_info]


def test_admission_keeps_slots_for_the_allowed_addresses():
    import ipaddress

    admission = Admission(max_connections=4, max_per_ip=4, reserved_slots=2,
                          networks=[ipaddress.ip_network("10.0.0.5/32")], clock=lambda: 0.0)
    assert admission.admit("10.0.0.9") is None
    assert admission.admit("10.0.0.9") is None
    assert admission.admit("10.0.0.9") is not None  # strangers: 2 of 4 slots
    assert admission.admit("10.0.0.5") is None
    assert admission.admit("10.0.0.5") is None
    assert admission.admit("10.0.0.5") is not None  # all 4 taken
    admission.release("10.0.0.9")
    assert admission.admit("10.0.0.5") is None


def test_accept_backoff_logs_once_a_minute(caplog):
    clock = FakeClock()
    backoff = AcceptBackoff(clock)
    pauses = [backoff.failed("The FTP receiver", OSError(24, "Too many open files")) for _ in range(100)]
    assert pauses[0] == 0.5 and max(pauses) == 10.0
    assert len([r for r in caplog.records if "cannot accept" in r.getMessage()]) == 1
    clock.now += 61
    backoff.failed("The FTP receiver", OSError(24, "Too many open files"))
    lines = [r.getMessage() for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(lines) == 2 and "99 more since the last message" in lines[1]


EMFILE_SCRIPT = textwrap.dedent('''
    import ftplib, io, logging, resource, socket, sys, time
    from appliance.sources.ftp_receiver import FtpReceiver
    lines = []
    class Count(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
    logging.getLogger("appliance").addHandler(Count())
    logging.getLogger("appliance").setLevel(logging.INFO)
    got = []
    r = FtpReceiver(host="127.0.0.1", port=0, user="fronius", password="pw", on_measurement=got.append)
    r.start()
    host, port = r.address
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    held = []
    try:  # take every descriptor but a few, then let clients queue up at the listener
        while True:
            held.append(open("/dev/null"))
    except OSError:
        pass
    for f in held[-3:]:
        f.close()
    del held[-3:]
    clients = []
    for _ in range(3):
        try:
            c = socket.socket(); c.setblocking(False); c.connect_ex((host, port)); clients.append(c)
        except OSError:
            break
    cpu0 = time.process_time(); time.sleep(1.0); cpu_s = time.process_time() - cpu0
    held += clients
    for s in held:
        s.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    deadline = time.monotonic() + 15
    while True:
        try:
            ftp = ftplib.FTP(timeout=3); ftp.connect(host, port); ftp.login("fronius", "pw")
            ftp.storbinary("STOR a.json", io.BytesIO(b'{"Head":{},"Body":{"Site":{"P_PV":5}}}'))
            ftp.quit(); break
        except (OSError, EOFError, ftplib.Error):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    r.stop()
    accept_lines = [l for l in lines if "cannot accept" in l]
    print(len(accept_lines), round(cpu_s, 2), r.accepted_count + r.rejected_count)
''')


def test_the_listener_survives_running_out_of_file_descriptors(tmp_path):
    script = tmp_path / "emfile.py"
    script.write_text(EMFILE_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr[-2000:]
    accept_lines, cpu_s, uploads = out.stdout.split()
    assert 1 <= int(accept_lines) <= 2      # logged, not 60,000 lines a second
    assert float(cpu_s) < 0.25              # not spinning while out of descriptors (1 s of them)
    assert int(uploads) == 1                # and listening again once they are free


def test_the_ftp_thread_sleeps_while_idle(make_receiver):
    receiver, _ = make_receiver()
    tid = receiver._thread.native_id

    def switches() -> int:
        with open(f"/proc/self/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split()[1])
        return 0

    before = switches()
    time.sleep(1.0)
    assert switches() - before <= 2  # no polling loop: it wakes only for sockets and timers


def test_the_ftp_timer_heap_forgets_cancelled_and_moved_timers():
    from pyftpdlib.ioloop import _CallLater

    from appliance.sources.ftp_guard import PromptScheduler

    sched = PromptScheduler()
    calls = []
    login = _CallLater(15, calls.append, "login", _scheduler=sched)
    assert 14 < sched.poll() <= 15
    login.cancel()
    assert sched.poll() is None            # pyftpdlib's own heap would wake in 15 s for nothing
    soon = _CallLater(1.0, calls.append, "soon", _scheduler=sched)
    later = _CallLater(1.5, calls.append, "later", _scheduler=sched)
    soon._delay = 3.0
    soon.reset()                           # the idle timer moves on with each command
    assert 1.0 < sched.poll() <= 1.5       # the other timer is next, not the moved one
    later.cancel()
    assert 2.5 < sched.poll() <= 3.0
    _CallLater(0, calls.append, "now", _scheduler=sched)
    sched.poll()
    assert calls == ["now"]
    soon.cancel()
    assert sched.poll() is None


def test_no_ftp_timer_outlives_its_connection(make_receiver):
    from waiting import wait_until

    receiver, inbox = make_receiver()
    for n in range(3):   # one connection a push, as the Datamanager does
        with connect(receiver) as ftp:
            upload(ftp, "powerflow.json", powerflow(float(n)))
    assert inbox.wait(measurements=3)

    def live_timers():
        return [t for t in receiver._ioloop.sched._tasks if not t.cancelled]

    # Once the server has seen the connections close, nothing is left to wake the loop: the login
    # timers, the uploads' time limits and the channels' idle timers all went with them.
    assert wait_until(lambda: not receiver.admission.open and not live_timers())
