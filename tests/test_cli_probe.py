"""`wallbox probe`: the RS-485 port heard (a basic box's meter polls, or silence), the inverter
asked (Solar API and SunSpec of the simulated GEN24), and only [wallbox] read from the file."""

from __future__ import annotations

import shutil

import pytest

from appliance import cli
from appliance.config import Settings, with_overrides
from appliance.probe import probe
from appliance.sim.basic_wallbox import basic_box_on_ptys, socat_pair
from appliance.sim.sunspec_inverter import SimulatedSunSpecInverter
from appliance.sim.wallbox import SimulatedWallbox

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is installed by ./bootstrap test")


def meter_settings(port: str) -> Settings:
    return with_overrides(Settings(), wallbox={"kind": "meter", "serial_port": port, "parity": "N"})


@needs_socat
def test_probe_hears_a_basic_box_polling_its_meter(tmp_path):
    lines: list[str] = []
    with basic_box_on_ptys(tmp_path, time_scale=4.0) as (box, meter_port, _log_port):
        assert probe(meter_settings(meter_port), out=lines.append, listen_s=1.0) == 0
    assert box.polls_sent >= 2
    assert "PRO380 polls from a wallbox (Power Optimizer on): use meter emulation" in "\n".join(lines)


@needs_socat
def test_probe_of_a_silent_bus_names_the_checks_and_exits_1(tmp_path):
    lines: list[str] = []
    with socat_pair(tmp_path, "bus") as (_nobody, port):
        assert probe(meter_settings(port), out=lines.append, listen_s=0.3) == 1
    text = "\n".join(lines)
    assert "check A/B" in text and "DIP switches" in text and "baud rate" in text


@needs_socat
def test_ems_over_rs485_without_an_answer_listens_for_a_basic_box(tmp_path):
    lines: list[str] = []
    with basic_box_on_ptys(tmp_path, time_scale=4.0) as (_box, meter_port, _log_port):
        settings = with_overrides(Settings(), wallbox={"kind": "ems", "transport": "rtu",
                                                       "serial_port": meter_port, "parity": "N"})
        assert probe(settings, out=lines.append, listen_s=1.0) == 0
    text = "\n".join(lines)
    assert "No answer" in text and "use meter emulation" in text


def test_probe_reads_only_the_wallbox_section(tmp_path, capsys):
    """No FTP password, a broken [display]: the probe still asks the wallbox."""
    wallbox = SimulatedWallbox()
    port = wallbox.serve_tcp()
    config = tmp_path / "wallbox.toml"
    config.write_text(f'[wallbox]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = {port}\n\n'
                      f'[display]\nbackend = "nonsense"\n', encoding="utf-8")
    try:
        assert cli.main(["probe", "--config", str(config)]) == 0
    finally:
        wallbox.stop()
    out = capsys.readouterr()
    assert "Vestel" in out.out and "password" not in out.err


def test_probe_still_refuses_a_bad_wallbox_section(tmp_path, capsys):
    config = tmp_path / "wallbox.toml"
    config.write_text('[wallbox]\nkind = "meter"\ndip_limit_a = 17\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["probe", "--config", str(config)])
    assert exit_.value.code == 2
    assert "dip_limit_a" in capsys.readouterr().err


def test_probe_inverter_says_what_answers_and_the_settings_lines(capsys):
    with SimulatedSunSpecInverter() as sim:
        sim.set(production_w=4000, house_w=600)
        modbus_port, http_port = sim.serve_tcp(), sim.serve_solar_api()
        code = cli.main(["probe", "--inverter", "127.0.0.1", "--http-port", str(http_port),
                         "--modbus-port", str(modbus_port), "--config", "/nonexistent/wallbox.toml"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Solar API v1 answers" in out
    assert "SunSpec answers" in out and "storage 124" in out and "203 at unit 200" in out
    assert "No push has arrived" in out
    assert 'source = "solar_api"' in out


def test_probe_inverter_with_nothing_there_exits_1_without_a_traceback(capsys):
    with SimulatedSunSpecInverter() as sim:   # bound and stopped: a port nobody listens on
        free = sim.serve_tcp()
    code = cli.main(["probe", "--inverter", "127.0.0.1", "--http-port", str(free), "--modbus-port", str(free),
                     "--config", "/nonexistent/wallbox.toml"])
    captured = capsys.readouterr()
    assert code == 1
    assert "Nothing answers" in captured.out and "Traceback" not in captured.err
