"""A port that is already taken says which port and what to do, not "[Errno None]"."""

import socket

import pytest

from appliance.sources.ftp_receiver import FtpReceiver


def receiver(host: str, port: int) -> FtpReceiver:
    return FtpReceiver(host=host, port=port, user="fronius", password="pw", on_measurement=lambda m: None)


def test_ftp_port_in_use_names_the_port_and_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as e:
            receiver("127.0.0.1", port).start()
    message = e.value.strerror
    assert f"port {port} is in use" in message and "fronius.ftp_port" in message
    assert "None" not in str(e.value) and e.value.errno is not None


def test_ftp_host_that_is_not_ours_says_to_listen_everywhere():
    with pytest.raises(OSError) as e:
        receiver("192.0.2.1", 0).start()  # TEST-NET-1: never an address of this machine
    assert 'fronius.ftp_host = "0.0.0.0"' in e.value.strerror
