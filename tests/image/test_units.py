"""systemd units and drop-ins: systemd's own verifier and security scorer, and the watchdog limits."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

from image_helpers import REPO, require_tool

SYSTEMD = REPO / "systemd"
EXPOSURE_LIMIT = 3.0


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def _all_values(path: Path, key: str) -> list[str]:
    # configparser keeps only the last of repeated keys; systemd adds them up.
    return re.findall(rf"^{re.escape(key)}=(.*)$", path.read_text(), re.M)


def _verifiable_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit with its programs pointed at stand-ins under tmp_path.

    `systemd-analyze verify` insists that ExecStart='s program exists and is executable; on this
    computer /opt/wallbox/bin/wallbox and raspi-config do not.
    """
    text = unit.read_text()
    for program in sorted(set(re.findall(r"^Exec\w+=[-@!+:]*(/\S+)", text, re.M))):
        stand_in = tmp_path / "root" / program.lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        text = re.sub(rf"(?<==){re.escape(program)}(?=\s)", str(stand_in), text)
    copy = tmp_path / unit.name
    copy.write_text(text)
    return copy


@pytest.mark.parametrize("path", [
    SYSTEMD / "wallbox.service", SYSTEMD / "wallbox-readonly-root.service",
    SYSTEMD / "wallbox-boot-settings.service", REPO / "image/selftest/wallbox-selftest.service",
], ids=lambda p: p.name)
def test_systemd_analyze_verify_is_clean(path, tmp_path):
    analyze = require_tool("systemd-analyze")
    copy = _verifiable_copy(path, tmp_path)
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 even for unknown keys and unparsable values; it only warns. Clean means silent.
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_verify_catches_a_misspelt_setting(tmp_path):
    # The check above can fail: a typo in a hardening line is reported, not silently dropped.
    analyze = require_tool("systemd-analyze")
    broken = tmp_path / "broken"
    broken.mkdir()
    unit = broken / "wallbox.service"
    unit.write_text((SYSTEMD / "wallbox.service").read_text().replace("ProtectSystem=", "ProtectSytem="))
    copy = _verifiable_copy(unit, tmp_path)
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr


def test_security_exposure_is_at_most_3(tmp_path):
    analyze = require_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(SYSTEMD / "wallbox.service")],
        capture_output=True, text=True, timeout=60,
    )
    match = re.search(r"Overall exposure level for wallbox\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure} (limit {EXPOSURE_LIMIT})")
    assert exposure <= EXPOSURE_LIMIT


def test_service_contract():
    path = SYSTEMD / "wallbox.service"
    unit = _unit(path)
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"  # an appliance never gives up restarting
    assert service["User"] == "wallbox" and service["Group"] == "wallbox"
    assert service["SupplementaryGroups"].split() == ["dialout", "spi", "gpio"]
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert service["RuntimeDirectory"] == "wallbox" and service["StateDirectory"] == "wallbox"
    assert service["ExecStart"].endswith("run --config /boot/firmware/wallbox.toml")
    assert service.get("PrivateUsers", "no") == "no"  # would make port 21 unbindable
    assert service["DevicePolicy"] == "closed"
    allowed = _all_values(path, "DeviceAllow")
    assert allowed == ["char-ttyUSB rw", "char-spi rw", "char-gpiochip rw", "/dev/gpiomem rw"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def _seconds(value: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|)", value):
        total += float(number) * {"min": 60, "ms": 0.001, "s": 1, "": 1}[unit]
    return total


def test_watchdog_limits():
    service = _unit(SYSTEMD / "wallbox.service")["Service"]
    watchdog_s = _seconds(service["WatchdogSec"])
    # The control loop pings about once a second; a couple of slow cycles (a Modbus timeout is a
    # few seconds) must not count as a hang, a real hang must not go unnoticed for minutes.
    assert 10 <= watchdog_s <= 60
    assert _seconds(service["RestartSec"]) < watchdog_s

    manager = _unit(SYSTEMD / "system.conf.d" / "watchdog.conf")["Manager"]
    runtime_s = _seconds(manager["RuntimeWatchdogSec"])
    assert 0 < runtime_s <= 15  # the bcm2835 watchdog counts to about 15 s at most

    journal = _unit(SYSTEMD / "journald.conf.d" / "wallbox.conf")["Journal"]
    assert journal["Storage"] == "volatile"
