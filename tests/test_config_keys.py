"""The declared keys: the new sections, the rules between keys, values that cannot work, `only`."""

import re
import tomllib
from dataclasses import fields

import pytest

from appliance.config import (DEFAULT_CONFIG_PATH, EXAMPLE_PATH, SECTIONS, ConfigError, Settings,
                              default_config_path, load_settings, parse_settings)


def example(**changes):
    raw = tomllib.loads(EXAMPLE_PATH.read_text())
    raw["fronius"]["ftp_password"] = "secret"
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    return raw


def problems_of(raw, **kw):
    with pytest.raises(ConfigError) as e:
        parse_settings(raw, **kw)
    return {p.key: p for p in e.value.problems}


def test_every_declared_key_is_in_the_example_file_with_its_default():
    text = EXAMPLE_PATH.read_text()
    raw = tomllib.loads(text)
    for name, cls in SECTIONS.items():
        assert f"[{name}]" in text, f"[{name}] is missing from the example file"
        for f in fields(cls):
            if f.name in raw.get(name, {}):
                written = raw[name][f.name]
                default = f.default
                if isinstance(default, tuple):
                    assert list(default) == written, f"{name}.{f.name}"
                elif f.name != "ftp_password":
                    assert written == default, f"{name}.{f.name} = {written!r} but the default is {default!r}"
            else:
                assert re.search(rf"^#.*\b{f.name}\b", text, re.M), f"{name}.{f.name} is not documented"
            assert "key" in f.metadata, f"{name}.{f.name} is not declared with key()"


def test_new_sections_have_their_defaults():
    s = parse_settings(example())
    assert (s.wallbox.kind, s.wallbox.dip_limit_a, s.wallbox.log_port) == ("ems", 16, "/dev/ttyAMA0")
    assert s.wallbox.phase_switching is False and s.wallbox.phase_switch_pause_s == 120
    assert (s.wallbox.one_phase_below_w, s.wallbox.three_phase_above_w) == (3700, 4500)
    assert (s.fronius.source, s.fronius.sunspec_port, s.fronius.sunspec_meter_unit) == ("push", 502, 200)
    assert (s.battery.priority_soc_pct, s.battery.car_may_discharge) == (50, False)
    assert (s.dimming.pin, s.dimming.active_level, s.dimming.dimmed_allowance_w) == (0, "low", 4200)
    assert (s.web.enabled, s.web.host, s.web.port) == (True, "0.0.0.0", 8080)
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.topic_prefix, s.mqtt.client_id) == ("", 1883, "wallbox", "wallbox")
    assert Settings().mqtt.discovery_prefix == "homeassistant"


def test_dip_limit_must_be_a_dip_switch_value():
    found = problems_of(example(wallbox__dip_limit_a=30))["wallbox.dip_limit_a"]
    assert "16, 20, 25, 32, 40, 63, 80 A" in found.allowed and "DIP switches" in found.allowed
    assert parse_settings(example(wallbox__dip_limit_a=32)).wallbox.dip_limit_a == 32


@pytest.mark.parametrize("source, needed, value", [
    ("sunspec", "fronius.sunspec_host", "192.168.178.40"),
    ("solar_api", "fronius.solar_api_url", "http://192.168.178.40"),
])
def test_each_source_needs_its_own_address_and_no_ftp_password(source, needed, value):
    raw = example(fronius__source=source)
    raw["fronius"]["ftp_password"] = ""
    assert set(problems_of(raw)) == {needed}
    assert f'source = "{source}"' in problems_of(raw)[needed].allowed
    section, key = needed.split(".")
    raw[section][key] = value
    assert parse_settings(raw).fronius.source == source


def test_push_still_needs_the_ftp_password():
    raw = example()
    raw["fronius"]["ftp_password"] = " "
    assert "Push Service" in problems_of(raw)["fronius.ftp_password"].allowed


@pytest.mark.parametrize("dotted, value, words", [
    ("mqtt__port", 0, "from 1 to 65535"),
    ("mqtt__port", 65536, "from 1 to 65535"),
    ("web__port", "8080", "whole number"),
    ("dimming__pin", 28, "from 0 to 27"),
    ("dimming__active_level", "LOW", "'low', 'high'"),
    ("battery__priority_soc_pct", 101, "from 0 to 100 %"),
    ("mqtt__topic_prefix", "home/#", "no + or #"),
    ("mqtt__host", "http://broker", "no http://"),
    ("fronius__sunspec_host", "1.2.3.4:502", "no port"),
    ("fronius__passive_ports", "60010-60000", "low-high"),
    ("wallbox__kind", "basic", "'ems', 'meter'"),
    ("fronius__source", "ftp", "'push', 'solar_api', 'sunspec'"),
    ("web__enabled", "yes", "true or false"),
])
def test_new_keys_are_checked(dotted, value, words):
    found = problems_of(example(**{dotted: value}))
    key = dotted.replace("__", ".")
    assert set(found) == {key} and words in found[key].allowed


@pytest.mark.parametrize("user", ["anonymous", "ftp", "FTP", " Anonymous "])
def test_anonymous_ftp_logins_are_refused(user):
    allowed = problems_of(example(fronius__ftp_user=user))["fronius.ftp_user"].allowed
    assert "anonymous login" in allowed and '"fronius"' in allowed


@pytest.mark.parametrize("dotted", ["wallbox__serial_port", "state__dir", "display__png_path",
                                    "fronius__ftp_password", "wallbox__log_port", "mqtt__password"])
def test_a_nul_character_is_refused_in_any_text(dotted):
    found = problems_of(example(**{dotted: "/dev/tty\x00USB0"}))
    assert "NUL" in found[dotted.replace("__", ".")].allowed


def test_paths_that_cannot_work_are_refused():
    assert "full path" in problems_of(example(state__dir="var/lib/wallbox"))["state.dir"].allowed
    long_socket = "/run/wallbox/" + "x" * 100 + ".sock"
    assert "at most 107" in problems_of(example(state__control_socket=long_socket))["state.control_socket"].allowed


def test_rules_between_keys():
    assert "kind = \"meter\"" in problems_of(example(wallbox__kind="meter", wallbox__transport="tcp",
                                                     wallbox__host="10.0.0.2"))["wallbox.transport"].allowed
    assert "two separate" in problems_of(example(wallbox__kind="meter",
                                                 wallbox__log_port="/dev/ttyUSB0"))["wallbox.log_port"].allowed
    assert "back and forth" in problems_of(example(wallbox__three_phase_above_w=3700))[
        "wallbox.three_phase_above_w"].allowed
    assert "grid.phases = 3" in problems_of(example(wallbox__phase_switching=True, grid__phases=1))[
        "wallbox.phase_switching"].allowed
    assert "only ever lowers" in problems_of(example(dimming__pin=20, dimming__dimmed_allowance_w=12000))[
        "dimming.dimmed_allowance_w"].allowed
    assert "LCD" in problems_of(example(dimming__pin=25))["dimming.pin"].allowed
    assert "button.pin" in problems_of(example(dimming__pin=21))["dimming.pin"].allowed
    assert "fronius.ftp_port" in problems_of(example(web__port=21))["web.port"].allowed
    assert "mqtt.password" in problems_of(example(mqtt__password="pw"))["mqtt.username"].allowed
    assert "broadcast" in problems_of(example(wallbox__unit_id=0))["wallbox.unit_id"].allowed
    assert "twice" in problems_of(example(fronius__source="solar_api", fronius__solar_api_url="http://10.0.0.4",
                                          fronius__solar_api_interval_s=30))["fronius.stale_after_s"].allowed
    # The same values pass where the rule does not apply.
    assert parse_settings(example(wallbox__unit_id=0, wallbox__transport="tcp", wallbox__host="10.0.0.2"))
    assert parse_settings(example(fronius__solar_api_interval_s=30)).fronius.stale_after_s == 60
    assert parse_settings(example(wallbox__log_port="/dev/ttyUSB0")).wallbox.kind == "ems"
    assert parse_settings(example(web__port=21, fronius__ftp_port=2121)).web.port == 21


def test_problems_come_in_the_order_of_the_example_file():
    raw = example(mqtt__port=0, grid__phases=2, wallbox__dip_limit_a=1, fronius__source="x")
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    assert [p.key for p in e.value.problems] == ["grid.phases", "wallbox.dip_limit_a", "fronius.source",
                                                 "mqtt.port"]


def test_only_the_sections_a_command_needs_are_read(tmp_path):
    # The shipped example has no FTP password: probe needs only [wallbox], so it loads.
    s = load_settings(EXAMPLE_PATH, only=("wallbox",))
    assert s.wallbox.transport == "rtu" and s.fronius.ftp_password == ""
    bad = tmp_path / "w.toml"
    bad.write_text('[grid]\nphases = 2\n[wallbox]\nport = 0\n[mystery]\nx = 1\n')
    with pytest.raises(ConfigError) as e:
        load_settings(bad, only=("wallbox",))
    assert [p.key for p in e.value.problems] == ["wallbox.port"]
    with pytest.raises(ValueError, match="no settings section"):
        parse_settings({}, only=("wallbx",))


def test_passive_ports_are_a_range_above_1023():
    assert parse_settings(example(fronius__passive_ports=" 60000 - 60010 ")).fronius.passive_ports == "60000-60010"
    assert parse_settings(example(fronius__passive_ports="60000")).fronius.passive_ports == "60000-60000"
    for bad in ("21-30", "60000-70000", "60000:60010", "x"):
        assert "60000-60010" in problems_of(example(fronius__passive_ports=bad))["fronius.passive_ports"].allowed


def test_one_default_settings_path():
    assert default_config_path() == DEFAULT_CONFIG_PATH == "/boot/firmware/wallbox.toml"
    assert DEFAULT_CONFIG_PATH in EXAMPLE_PATH.read_text()


def test_check_config_hides_every_password():
    s = parse_settings(example(web__password="webpw", mqtt__username="u", mqtt__password="mqttpw"))
    text = s.describe()
    assert "webpw" not in text and "mqttpw" not in text and "secret" not in text
    assert text.count('password = "***"') == 3
    again = parse_settings(tomllib.loads(text.replace('"***"', '"pw"')))
    assert again.grid == s.grid and again.wallbox.kind == s.wallbox.kind
    assert "allowance_w = 11000   # W, what the grid operator allows" in text
