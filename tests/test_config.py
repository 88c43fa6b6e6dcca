import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from appliance.config import EXAMPLE_PATH, ConfigError, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]


def example(**changes):
    raw = tomllib.loads(EXAMPLE_PATH.read_text())
    raw["fronius"]["ftp_password"] = "secret"
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    return raw


def problems_of(raw):
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    return {p.key: p for p in e.value.problems}


def test_example_file_with_password_is_valid_and_typed():
    s = parse_settings(example())
    assert s.grid.allowance_w == 11000 and s.grid.phases == 3
    assert s.wallbox.transport == "rtu" and s.wallbox.parity == "E"
    assert s.fronius.ftp_password == "secret"
    assert s.failsafe_current_a == 15  # 11000 W / (3 x 230 V) = 15.9 A
    assert isinstance(s.fronius.stale_after_s, float)


def test_shipped_example_reports_only_the_missing_password():
    with pytest.raises(ConfigError) as e:
        load_settings(EXAMPLE_PATH)
    assert [p.key for p in e.value.problems] == ["fronius.ftp_password"]
    assert "Push Service" in e.value.problems[0].allowed


def test_every_problem_is_reported_with_key_value_and_what_is_allowed():
    raw = example(grid__phases=2, wallbox__min_current_a=4, control__mode="turbo",
                  grid__alowance_w=5000, fronius__allowed_ips=["192.168.1.300"])
    found = problems_of(raw)
    assert set(found) == {"grid.phases", "wallbox.min_current_a", "control.mode",
                          "grid.alowance_w", "fronius.allowed_ips"}
    assert "one of 1, 3" in found["grid.phases"].allowed
    assert "unknown key" in found["grid.alowance_w"].allowed
    assert "'turbo'" in str(found["control.mode"])


def test_failsafe_current_above_the_allowance_only_current_is_an_error():
    found = problems_of(example(wallbox__failsafe_current_a=20))
    assert "at most 15 A" in found["wallbox.failsafe_current_a"].allowed
    assert parse_settings(example(wallbox__failsafe_current_a=10)).failsafe_current_a == 10
    assert "never 1-5" in problems_of(example(wallbox__failsafe_current_a=3))["wallbox.failsafe_current_a"].allowed


def test_small_allowance_gives_failsafe_zero_not_one_to_five_amps():
    s = parse_settings(example(grid__allowance_w=3000))
    assert s.failsafe_current_a == 0  # 4.3 A would be below the minimum


def test_schedule_windows_parse_and_cross_midnight():
    raw = example()
    raw["control"]["schedule"] = [{"start": "22:30", "end": "04:30", "mode": "fast"}]
    s = parse_settings(raw)
    (w,) = s.control.schedule
    from datetime import time
    assert w.contains(time(23, 0)) and w.contains(time(1, 0)) and not w.contains(time(12, 0))
    raw["control"]["schedule"] = [{"start": "25:00", "end": "04:30", "mode": "warp", "x": 1}]
    found = problems_of(raw)
    assert {"control.schedule[0].start", "control.schedule[0].mode", "control.schedule[0].x"} <= set(found)


def test_button_on_an_lcd_pin_is_refused():
    assert "chip select" in problems_of(example(button__pin=8))["button.pin"].allowed


def test_tcp_needs_a_host():
    assert "required" in problems_of(example(wallbox__transport="tcp"))["wallbox.host"].allowed


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_check_config_cli_prints_problems_and_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[grid]\nallowance_w = "lots"\n[fronius]\nftp_password = ""\n')
    r = run_cli("check-config", str(bad))
    assert r.returncode == 2
    lines = [line.strip() for line in r.stderr.splitlines()[1:]]
    assert lines[0].startswith("grid.allowance_w = 'lots': must be a whole number")
    assert lines[1].startswith("fronius.ftp_password = '': required")


def test_check_config_cli_prints_resolved_values(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(EXAMPLE_PATH.read_text().replace('ftp_password = ""', 'ftp_password = "pw"'))
    r = run_cli("check-config", str(good))
    assert r.returncode == 0, r.stderr
    assert "allowance_w = 11000" in r.stdout
    assert "failsafe_current_a = 15" in r.stdout
    assert 'ftp_password = "***"' in r.stdout and '"pw"' not in r.stdout


def test_check_config_cli_broken_toml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[grid\nallowance_w = 1\n")
    r = run_cli("check-config", str(broken))
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = run_cli("check-config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "no such file" in r.stderr
