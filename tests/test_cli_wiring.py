"""The command line's edges: unwritable output paths, a port in use, a settings file that breaks
the parser under systemd, `bench` and `--help`; each ends in a clean message, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance import cli
from appliance.config import Settings, with_overrides
from appliance.service import run_service

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def blocked_path(tmp_path: Path) -> Path:
    """A path below a plain file: no user, root included, can make a folder or file there."""
    plain = tmp_path / "plain-file"
    plain.write_text("x")
    return plain / "sub"


def test_render_to_an_unwritable_folder_says_so_and_exits_2(tmp_path):
    result = run_cli("render", "--out", str(blocked_path(tmp_path)))
    assert result.returncode == 2
    assert "Cannot write the pictures to" in result.stderr and "choose a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_chart_to_an_unwritable_file_says_so_before_simulating(tmp_path):
    started = time.monotonic()
    result = run_cli("simulate", "--chart", str(blocked_path(tmp_path) / "day.png"))
    assert result.returncode == 2
    assert "Cannot write the chart to" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 20   # refused up front, not after a whole simulated day


def test_simulate_chart_check_leaves_no_file_behind(tmp_path):
    target = tmp_path / "charts" / "day.png"
    args = cli.build_parser().parse_args(["simulate", "--chart", str(target)])
    cli._check_chart_path(args)
    assert target.parent.is_dir() and not target.exists()


def test_a_port_in_use_stops_the_service_with_a_message_and_exit_2(tmp_path, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = with_overrides(
            Settings(), wallbox={"transport": "tcp", "host": "127.0.0.1", "port": 1},
            fronius={"ftp_host": "127.0.0.1", "ftp_port": port, "ftp_password": "secret-pw"},
            display={"backend": "none"}, button={"pin": 0}, web={"enabled": False},
            state={"dir": str(tmp_path / "state"), "control_socket": str(tmp_path / "control.sock")})
        with caplog.at_level("ERROR"):
            assert run_service(settings, config_path="/boot/firmware/wallbox.toml") == 2
    text = caplog.text
    assert "cannot start" in text and "in use" in text and "/boot/firmware/wallbox.toml" in text


def test_a_deeply_nested_file_under_systemd_shows_the_problem_and_waits(tmp_path):
    """NOTIFY_SOCKET set: the stand-in reports ready and stops on SIGTERM, without a traceback."""
    config = tmp_path / "wallbox.toml"
    config.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify))
        listener.settimeout(20)
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(config)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NOTIFY_SOCKET": str(notify)})
        try:
            message = listener.recv(4096).decode()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
    assert "READY=1" in message and "Settings invalid" in message
    assert proc.returncode == 0
    assert "Traceback" not in err and "Traceback" not in out
    assert "Charging control is not running" in out


def test_bench_is_on_the_command_line():
    args = cli.build_parser().parse_args(["bench", "--seconds", "5"])
    assert args.func.__name__ == "run_bench" and args.seconds == 5


def test_help_names_the_one_default_settings_path(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "/boot/firmware/wallbox.toml" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["probe", "--help"])
    assert "/boot/firmware/wallbox.toml" in capsys.readouterr().out


def test_repeated_log_lines_are_summarized():
    code = ("import logging\n"
            "from appliance.cli import _setup_logging\n"
            "_setup_logging()\n"
            "for _ in range(500):\n"
            "    logging.getLogger('appliance').warning('The wallbox does not answer.')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.stdout.count("The wallbox does not answer.") == 1
