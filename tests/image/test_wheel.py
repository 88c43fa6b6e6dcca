"""The wheel the image installs: it installs into a fresh venv, and the program it brings works
the way the unit starts it, also under the memory protection the unit switches on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from image_helpers import REPO

EXAMPLE = REPO / "appliance" / "wallbox.example.toml"
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel and its declared dependencies (pip resolves them)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install",
         "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def _run(args, timeout=60, **kwargs):
    # Outside the source tree, so nothing is imported from the checkout by accident.
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd="/", **kwargs)


def test_the_wheel_carries_the_example_settings_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("appliance/wallbox.example.toml") == EXAMPLE.read_bytes()
        entry_points = archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    assert re.search(r"^wallbox\s*=\s*appliance\.cli:main$", entry_points, re.M)


def test_installed_program_comes_from_the_venv(venv):
    result = _run([str(venv / "bin" / "python"), "-c", "import appliance; print(appliance.__file__)"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(venv))


def test_help(venv):
    result = _run([str(venv / "bin" / "wallbox"), "--help"])
    assert result.returncode == 0, result.stderr
    for command in ("run", "check-config"):
        assert command in result.stdout


def test_check_config_on_the_shipped_file_names_the_missing_password(venv, tmp_path):
    # The file exactly as it lands on the boot partition.
    shipped = tmp_path / "wallbox.toml"
    shipped.write_bytes(EXAMPLE.read_bytes())
    result = _run([str(venv / "bin" / "wallbox"), "check-config", str(shipped)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "fronius.ftp_password" in result.stdout + result.stderr


def _with_password(tmp_path: Path) -> Path:
    text, count = re.subn(r'^ftp_password\s*=\s*""', 'ftp_password = "sun-and-cars-42"',
                          EXAMPLE.read_text(), flags=re.M)
    assert count == 1
    edited = tmp_path / "wallbox.toml"
    edited.write_text(text)
    return edited


def test_check_config_accepts_the_file_once_the_password_is_filled_in(venv, tmp_path):
    result = _run([str(venv / "bin" / "wallbox"), "check-config", str(_with_password(tmp_path))])
    assert result.returncode == 0, result.stdout + result.stderr


def _mdwe_available() -> bool:
    # prctl(PR_SET_MDWE) is the kernel's own form of MemoryDenyWriteExecute= (Linux 6.3 and later).
    code = (
        "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
        f"sys.exit(0 if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0 "
        "else ctypes.get_errno())"
    )
    result = subprocess.run([sys.executable, "-c", code], timeout=30)
    return result.returncode == 0


def _under_mdwe(program: list[str]) -> list[str]:
    """Runs `program` with writable+executable memory refused, inherited across exec."""
    launcher = (
        "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
        f"assert libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0; "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", launcher, *program]


@pytest.mark.skipif(sys.platform != "linux", reason="MemoryDenyWriteExecute is a Linux feature")
def test_program_runs_with_memory_deny_write_execute(venv, tmp_path):
    if not _mdwe_available():
        pytest.skip("this kernel has no prctl(PR_SET_MDWE) (Linux 6.3+): cannot imitate "
                    "MemoryDenyWriteExecute= here")
    # The protection really is on in the child: a writable+executable mapping is refused.
    probe = _run(_under_mdwe([str(venv / "bin" / "python"), "-c",
                              "import mmap; mmap.mmap(-1, 4096, prot=7)"]))
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe.stderr

    # Settings, drawing every screen (Pillow, fonts), the whole import graph of the service.
    checked = _run(_under_mdwe([str(venv / "bin" / "wallbox"), "check-config",
                                str(_with_password(tmp_path))]))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = tmp_path / "screens"
    rendered = _run(_under_mdwe([str(venv / "bin" / "wallbox"), "render", "--out", str(out)]),
                    timeout=120)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert list(out.glob("*.png"))
    imported = _run(_under_mdwe([str(venv / "bin" / "python"), "-c",
                                 "import appliance.service, appliance.sdnotify, pyftpdlib.servers, "
                                 "pymodbus.client, serial, requests"]))
    assert imported.returncode == 0, imported.stderr


def test_sdnotify_module_is_in_the_wheel(venv, tmp_path):
    # The service feeds systemd's watchdog through it; it must ship with the program.
    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(5)
    try:
        result = _run([str(venv / "bin" / "python"), "-c",
                       "from appliance.sdnotify import SystemdNotifier; "
                       "assert SystemdNotifier().ready('started')"],
                      env={**os.environ, "NOTIFY_SOCKET": str(sock_path)})
        assert result.returncode == 0, result.stderr
        assert sock.recv(4096) == b"READY=1\nSTATUS=started"
    finally:
        sock.close()

