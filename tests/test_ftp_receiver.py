"""FtpReceiver with ftplib playing the inverter's push service, over loopback."""

from __future__ import annotations

import ftplib
import io
import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from appliance.sources.fronius import Measurement
from appliance.sources.ftp_receiver import FtpReceiver

SAMPLES = Path(__file__).resolve().parent / "samples" / "fronius"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"the real Fronius samples are not at {SAMPLES} (they live beside the repository)",
)

USER, PASSWORD = "fronius", "s3cret-push"


def powerflow(pv_w, grid_w=None, load_w=None) -> bytes:
    return json.dumps({
        "Head": {"RequestArguments": {}, "Status": {"Code": 0, "Reason": "", "UserMessage": ""},
                 "Timestamp": "2024-06-01T12:00:00+02:00"},
        "Body": {"Inverters": {"1": {"DT": 232, "P": pv_w}},
                 "Site": {"Mode": "meter", "P_PV": pv_w, "P_Grid": grid_w, "P_Load": load_w,
                          "P_Akku": None},
                 "Version": "12"},
    }, indent=3).encode()


class Inbox:
    """Collects what the receiver hands on, and lets a test wait for it."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.rejected: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def measurement(self, m: Measurement) -> None:
        with self._cond:
            self.measurements.append(m)
            self._cond.notify_all()

    def reject(self, source: str, reason: str) -> None:
        with self._cond:
            self.rejected.append((source, reason))
            self._cond.notify_all()

    def wait(self, measurements=0, rejected=0, timeout_s=3.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: len(self.measurements) >= measurements and len(self.rejected) >= rejected,
                timeout=timeout_s,
            )


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_receiver():
    started = []

    def make(**kw):
        inbox = Inbox()
        options = dict(host="127.0.0.1", port=0, user=USER, password=PASSWORD,
                       on_measurement=inbox.measurement, on_rejected=inbox.reject)
        options.update(kw)
        receiver = FtpReceiver(**options)
        receiver.start()
        started.append(receiver)
        return receiver, inbox

    yield make
    for receiver in started:
        receiver.stop()


def connect(receiver, source_ip=None, login=True) -> ftplib.FTP:
    host, port = receiver.address
    ftp = ftplib.FTP(timeout=5, source_address=(source_ip, 0) if source_ip else None)
    try:
        ftp.connect(host, port)
        if login:
            ftp.login(USER, PASSWORD)
    except BaseException:
        ftp.close()   # a refused connection: ftplib leaves its socket open
        raise
    return ftp


def connect_eventually(receiver, source_ip=None, timeout_s=3.0) -> ftplib.FTP:
    """Connect once the server has noticed that an earlier session ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect(receiver, source_ip)
        except (ftplib.error_temp, EOFError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def assert_refused(receiver, source_ip=None) -> None:
    """The server answers 421 (or, when over its total cap, may just hang up)."""
    try:
        ftp = connect(receiver, source_ip, login=False)
    except ftplib.error_temp as exc:
        assert str(exc).startswith("421"), exc
    except (EOFError, ConnectionError):
        pass
    else:
        ftp.close()
        pytest.fail("the connection was accepted")


def upload(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    return ftp.storbinary(f"STOR {name}", io.BytesIO(data))


def test_good_upload_becomes_measurement(make_receiver):
    clock = FakeClock()
    receiver, inbox = make_receiver(clock=clock)
    with connect(receiver) as ftp:
        assert upload(ftp, "powerflow.json", powerflow(5600.0, -1200.0, -4400.0)).startswith("226")
    assert inbox.wait(measurements=1)
    (m,) = inbox.measurements
    assert (m.pv_w, m.grid_w, m.load_w, m.kind) == (5600.0, -1200.0, -4400.0, "powerflow")
    assert m.source == "powerflow.json" and m.received_at == 500.0
    assert receiver.accepted_count == 1 and receiver.rejected_count == 0
    assert inbox.rejected == []


@needs_samples
def test_real_push_files(make_receiver):
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        upload(ftp, "a.powerflow", (SAMPLES / "14_push_powerflow_symo_grid_meter_export_zeitinfarkt.json").read_bytes())
        upload(ftp, "b.inverter", (SAMPLES / "12_push_ftp_inverter_day_f2i.json").read_bytes())
    assert inbox.wait(measurements=2)
    first, second = inbox.measurements
    assert (first.pv_w, first.grid_w, first.load_w) == (886.0, -308.54, -577.46)
    assert (second.pv_w, second.kind) == (832.0, "inverter")


def test_ascii_mode_upload_is_read(make_receiver):
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        ftp.storlines("STOR text.json", io.BytesIO(powerflow(123.0).replace(b"\n", b"\r\n")))
    assert inbox.wait(measurements=1)
    assert inbox.measurements[0].pv_w == 123.0


def test_wrong_password_and_anonymous_are_refused(make_receiver):
    receiver, inbox = make_receiver()

    def try_login(user, password, results):
        with connect(receiver, login=False) as ftp:
            with pytest.raises(ftplib.error_perm, match="530"):
                ftp.login(user, password)
            # Still not logged in: an upload is refused.
            with pytest.raises(ftplib.error_perm, match="530"):
                upload(ftp, "x.json", powerflow(1.0))
        results.append(user)

    results: list[str] = []
    # Failed logins are answered after a deliberate delay; run both at once.
    threads = [threading.Thread(target=try_login, args=args + (results,))
               for args in ((USER, "wrong"), ("anonymous", "guest@example.com"), ("root", PASSWORD))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["anonymous", "fronius", "root"]
    assert inbox.measurements == [] and receiver.accepted_count == 0


def test_download_list_delete_rename_are_refused_or_empty(make_receiver, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        upload(ftp, "20230302/172800.solarapi.v1.powerflow", powerflow(10.0))
        assert inbox.wait(measurements=1)
        assert ftp.nlst() == [] and ftp.nlst("20230302") == []
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        assert listing == []
        for command in ("RETR 20230302/172800.solarapi.v1.powerflow", "RETR /etc/passwd"):
            with pytest.raises(ftplib.error_perm, match="550"):
                ftp.retrbinary(command, lambda chunk: None)
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.delete("20230302/172800.solarapi.v1.powerflow")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.rename("20230302/172800.solarapi.v1.powerflow", "x")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.rmd("20230302")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.size("20230302/172800.solarapi.v1.powerflow")
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd("APPE x.json")
        # Directories outside the root collapse into it; nothing is created on disk.
        outside = tmp_path / "made-by-ftp"
        ftp.mkd(str(outside))
        ftp.mkd("../../../made-by-ftp-too")
        assert ftp.cwd("../../..").startswith("250") and ftp.pwd() == "/"
    assert not outside.exists()
    assert list(tmp_path.iterdir()) == []
    assert not Path("/20230302").exists() and not Path("/made-by-ftp-too").exists()


def test_file_names_with_directories(make_receiver):
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        # The push service stores the whole path at once ...
        upload(ftp, "20230302/172800.solarapi.v1.powerflow", powerflow(1.0))
        # ... or creates the directory, enters it and stores the file name.
        assert ftp.mkd("20230303") == "/20230303"
        ftp.mkd("20230303")  # again: still fine
        ftp.cwd("20230303")
        upload(ftp, "000100.solarapi.v1.powerflow", powerflow(2.0))
        ftp.cwd("/")
        upload(ftp, "/deep/er/still/push.json", powerflow(3.0))
    assert inbox.wait(measurements=3)
    assert [m.source for m in inbox.measurements] == [
        "20230302/172800.solarapi.v1.powerflow",
        "20230303/000100.solarapi.v1.powerflow",
        "deep/er/still/push.json",
    ]
    assert [m.pv_w for m in inbox.measurements] == [1.0, 2.0, 3.0]


def test_malformed_upload_is_rejected_and_server_goes_on(make_receiver, caplog):
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        upload(ftp, "bad.json", b"this is not json")
        upload(ftp, "neg.json", powerflow(-50.0))
        upload(ftp, "good.json", powerflow(50.0))
    assert inbox.wait(measurements=1, rejected=2)
    (bad, bad_reason), (neg, neg_reason) = inbox.rejected
    assert bad == "bad.json" and "not valid JSON" in bad_reason
    assert neg == "neg.json" and "P_PV" in neg_reason and "negative" in neg_reason
    assert receiver.rejected_count == 2 and receiver.accepted_count == 1
    assert "bad.json" in caplog.text and "127.0.0.1" in caplog.text


def test_oversized_upload_is_aborted(make_receiver):
    receiver, inbox = make_receiver(max_upload_bytes=4096)
    ftp = connect(receiver)
    # The client sees either the 552 answer or its data connection reset, depending on timing.
    with pytest.raises(ftplib.all_errors):
        upload(ftp, "huge.json", b" " * 200_000 + powerflow(1.0))
    ftp.close()
    assert inbox.wait(rejected=1)
    source, reason = inbox.rejected[0]
    assert source == "huge.json" and "4096 bytes" in reason
    assert inbox.measurements == []
    # A normal push right after still works.
    with connect(receiver) as ftp:
        upload(ftp, "ok.json", powerflow(1.0))
    assert inbox.wait(measurements=1)


def test_upload_cut_off_by_closed_data_connection_is_rejected(make_receiver):
    receiver, inbox = make_receiver()
    data = powerflow(4000.0, 100.0, -4100.0)
    with connect(receiver) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR cut.json")
        conn.sendall(data[: len(data) // 2])
        conn.close()  # the inverter lost power mid-file
        ftp.voidresp()
    assert inbox.wait(rejected=1)
    source, reason = inbox.rejected[0]
    assert source == "cut.json" and "cut off" in reason
    assert inbox.measurements == []


def test_upload_reset_mid_file_is_rejected(make_receiver):
    receiver, inbox = make_receiver()
    data = powerflow(4000.0, 100.0, -4100.0)
    with connect(receiver) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR reset.json")
        conn.sendall(data[:100])
        time.sleep(0.1)
        # SO_LINGER 0: close with a TCP reset instead of an orderly end of file.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        try:
            ftp.voidresp()
        except ftplib.all_errors:
            pass
    assert inbox.wait(rejected=1)
    source, reason = inbox.rejected[0]
    assert source == "reset.json" and ("cut off" in reason or "aborted" in reason)
    assert inbox.measurements == []


def test_upload_aborted_by_client_is_rejected(make_receiver):
    receiver, inbox = make_receiver()
    data = powerflow(4000.0, 100.0, -4100.0)
    with connect(receiver) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR abort.json")
        conn.sendall(data[:100])
        time.sleep(0.1)
        ftp.abort()
        conn.close()
    assert inbox.wait(rejected=1)
    source, reason = inbox.rejected[0]
    assert source == "abort.json" and "aborted after 100 bytes" in reason
    assert inbox.measurements == []


def test_disallowed_address_is_refused_at_connect(make_receiver, caplog):
    receiver, inbox = make_receiver(allowed_ips=["127.0.0.2"])
    with pytest.raises(ftplib.error_temp, match="421"):
        connect(receiver, login=False)
    assert receiver.refused_connection_count == 1
    assert "127.0.0.1" in caplog.text and "allowed_ips" in caplog.text
    # The allowed address gets through, data connection included.
    with connect(receiver, source_ip="127.0.0.2") as ftp:
        upload(ftp, "ok.json", powerflow(7.0))
    assert inbox.wait(measurements=1)


def test_allowed_network(make_receiver):
    receiver, inbox = make_receiver(allowed_ips=["10.0.0.8", "127.0.0.0/30"])
    with connect(receiver, source_ip="127.0.0.3") as ftp:
        upload(ftp, "ok.json", powerflow(7.0))
    assert inbox.wait(measurements=1)
    with pytest.raises(ftplib.error_temp, match="421"):
        connect(receiver, source_ip="127.0.0.4", login=False)


def test_connections_per_address_are_capped(make_receiver):
    receiver, inbox = make_receiver(max_connections_per_ip=2)
    first, second = connect(receiver), connect(receiver)
    with pytest.raises(ftplib.error_temp, match="421"):
        connect(receiver, login=False)
    assert_refused(receiver)
    # Another address is not affected by this address's cap.
    with connect(receiver, source_ip="127.0.0.2") as other:
        upload(other, "other.json", powerflow(1.0))
    first.quit()
    with connect_eventually(receiver) as again:
        upload(again, "again.json", powerflow(2.0))
    second.quit()
    assert inbox.wait(measurements=2)


def test_total_connections_are_capped(make_receiver):
    receiver, inbox = make_receiver(max_connections=2, max_connections_per_ip=4)
    first = connect(receiver)
    second = connect(receiver, source_ip="127.0.0.2")
    assert_refused(receiver, source_ip="127.0.0.3")
    second.quit()
    with connect_eventually(receiver, source_ip="127.0.0.3") as third:
        assert third.pwd() == "/"
    first.quit()


def test_many_uploads_in_a_row(make_receiver):
    receiver, inbox = make_receiver()
    with connect(receiver) as ftp:
        for n in range(150):
            upload(ftp, f"20240601/{n:06d}.solarapi.v1.powerflow", powerflow(float(n)))
    for n in range(150, 170):  # one connection a push, as a push service may do
        with connect(receiver) as ftp:
            upload(ftp, "powerflow.json", powerflow(float(n)))
    assert inbox.wait(measurements=170)
    assert [m.pv_w for m in inbox.measurements] == [float(n) for n in range(170)]
    assert receiver.accepted_count == 170 and receiver.rejected_count == 0


def test_failing_callback_does_not_stop_the_server(make_receiver):
    calls = []

    def boom(*args):
        calls.append(args)
        raise RuntimeError("downstream failure")

    receiver, _ = make_receiver(on_measurement=boom, on_rejected=boom)
    with connect(receiver) as ftp:
        upload(ftp, "a.json", powerflow(1.0))
        upload(ftp, "b.json", b"{")
        upload(ftp, "c.json", powerflow(2.0))
    deadline = time.monotonic() + 3
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 3
    assert receiver.accepted_count == 2 and receiver.rejected_count == 1


def test_stop_is_fast_and_closes_the_port(make_receiver):
    receiver, _ = make_receiver()
    host, port = receiver.address
    idle = connect(receiver)
    started = time.monotonic()
    receiver.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()
    with pytest.raises(ftplib.all_errors):
        idle.pwd()
    idle.close()


def test_port_in_use_is_reported(make_receiver):
    receiver, _ = make_receiver()
    _, port = receiver.address
    second = FtpReceiver(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                         on_measurement=lambda m: None)
    with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
        second.start()


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(user="anonymous"), "anonymous"),
        (dict(user=""), "ftp_user"),
        (dict(password=""), "ftp_password"),
        (dict(allowed_ips=["192.168.1.300"]), "allowed_ips"),
    ],
)
def test_bad_settings_are_refused(kw, words):
    options = dict(host="127.0.0.1", port=0, user=USER, password=PASSWORD,
                   on_measurement=lambda m: None)
    options.update(kw)
    with pytest.raises(ValueError, match=words):
        FtpReceiver(**options)
