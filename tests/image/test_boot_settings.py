"""wallbox-boot-settings: system.toml on the boot partition applied to a root directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from image_helpers import REPO

SCRIPT = REPO / "image" / "boot-settings" / "wallbox-boot-settings"


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for zone in ("Europe/Berlin", "Europe/Vienna"):
        (root / "usr/share/zoneinfo" / zone).parent.mkdir(parents=True, exist_ok=True)
        (root / "usr/share/zoneinfo" / zone).write_bytes(b"TZif2")
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("wallbox\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\twallbox\n")
    return root


def _apply(tmp_path: Path, root: Path, toml: str) -> str:
    settings = tmp_path / "system.toml"
    settings.write_text(toml)
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=30,
        env={**os.environ, "WALLBOX_SYSTEM_TOML": str(settings), "WALLBOX_SYSTEM_ROOT": str(root)},
    )
    assert result.returncode == 0, result.stderr  # never stops the boot
    return result.stdout


def test_time_zone_host_name_and_wifi_are_applied_once(tmp_path):
    root = _root(tmp_path)
    toml = ('[system]\ntimezone = "Europe/Vienna"\nhostname = "garage-box"\n'
            '[wifi]\nssid = "IEEE"\npassword = "password"\ncountry = "at"\n')
    out = _apply(tmp_path, root, toml)
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Vienna"
    assert (root / "etc/timezone").read_text() == "Europe/Vienna\n"
    assert (root / "etc/hostname").read_text() == "garage-box\n"
    assert "127.0.1.1\tgarage-box" in (root / "etc/hosts").read_text().splitlines()
    wpa = root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
    text = wpa.read_text()
    # IEEE 802.11i annex H.4 test vector: passphrase "password", SSID "IEEE".
    assert "psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e" in text
    assert f"ssid={b'IEEE'.hex()}" in text and "country=AT" in text and "password" not in text
    assert wpa.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/modprobe.d/wallbox-wifi-country.conf").read_text() == \
        "options cfg80211 ieee80211_regdom=AT\n"
    assert "Wi-Fi network \"IEEE\" set up" in out

    # An unchanged file writes nothing at the next boot (no write to the card per boot).
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    out = _apply(tmp_path, root, toml)
    assert out == ""
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_raspberry_pi_os_gets_a_networkmanager_connection(tmp_path):
    root = _root(tmp_path)
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/NetworkManager").write_text("")
    _apply(tmp_path, root, '[wifi]\nssid = "Home"\npassword = "12345678"\n')
    conn = root / "etc/NetworkManager/system-connections/wallbox-wifi.nmconnection"
    assert "ssid=72;111;109;101;" in conn.read_text() and "key-mgmt=wpa-psk" in conn.read_text()
    assert conn.stat().st_mode & 0o777 == 0o600
    assert not (root / "etc/wpa_supplicant").exists()


def test_empty_values_leave_the_system_alone(tmp_path):
    root = _root(tmp_path)
    out = _apply(tmp_path, root, (REPO / "image/boot-settings/system.toml").read_text()
                 .replace('"Europe/Berlin"', '""'))
    assert out == ""
    assert not (root / "etc/localtime").exists() and not (root / "etc/wpa_supplicant").exists()
    assert (root / "etc/hostname").read_text() == "wallbox\n"


def test_bad_values_are_named_with_the_fix_and_change_nothing(tmp_path):
    root = _root(tmp_path)
    out = _apply(tmp_path, root, '[system]\ntimezone = "Mars/Olympus"\nhostname = "my box!"\nwlan = 1\n'
                                 '[wifi]\nssid = "Home"\npassword = "short"\n')
    assert 'timezone = "Mars/Olympus"' in out and '"Europe/Berlin"' in out
    assert 'hostname = "my box!"' in out and 'letters, digits and "-"' in out
    assert "[system] wlan is not known" in out
    assert "WPA needs 8 to 63" in out
    assert not (root / "etc/localtime").exists() and not (root / "etc/wpa_supplicant").exists()
    assert (root / "etc/hostname").read_text() == "wallbox\n"
    out = _apply(tmp_path, root, "[wifi\nssid = ")
    assert "is not valid TOML" in out and "nothing applied" in out
