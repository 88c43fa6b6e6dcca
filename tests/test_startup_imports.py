"""What `wallbox run` loads: the start-up path imports only what the settings ask for.

Each case starts the service's own path (the `run` command's logging and settings, the display,
the runtime, its start and one control cycle) in a fresh interpreter and reads its sys.modules.
Memory and start-up time on the Pi Zero W are mostly imports (see README, "Performance"), so a
module that creeps onto this path shows here, not only as a bench figure. The figures themselves
come from `wallbox bench`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.bench.rig import free_port
from appliance.sim.basic_wallbox import socat_pair
from service_settings import settings_file

ROOT = Path(__file__).resolve().parents[1]

#: Loaded only by what is switched off in these settings, or never by `run`.
NEVER_WITHOUT_ASKING = {
    "requests": "the Solar API poller (only with solar_api_url)",
    "urllib3": "the Solar API poller (only with solar_api_url)",
    "numpy": "nothing: the LCD path packs RGB565 with Pillow and bytes",
    "paho": "MQTT (only with [mqtt] host)",
    "appliance.mqtt": "MQTT (only with [mqtt] host)",
    "appliance.web": "the web page (only with [web] enabled)",
    "http.server": "the web page (only with [web] enabled)",
    "appliance.history": "the web page's history (only with [web] enabled)",
    "spidev": "the LCD (only with [display] backend st7735)",
    "gpiod": "the LCD and the button (only on the Pi, with their pins set)",
    "RPi": "the button (only with [button] pin)",
    "appliance.sim": "the simulators (demo, simulate, bench)",
    "appliance.bench": "`wallbox bench`",
    "appliance.cli_control": "the control commands (status, mode, pause)",
    "appliance.sources.solar_api": "the Solar API poller (only with solar_api_url)",
    "appliance.sources.sunspec_poller": "SunSpec (only with source = sunspec)",
}

_RUN_PATH = """
import json, sys
from appliance import cli
args = cli.build_parser(full=False).parse_args(["run", "--config", sys.argv[1]])
cli._setup_logging()
settings = cli._load(args.config)
from appliance.service import make_display
from appliance.runtime import Runtime
runtime = Runtime(settings, display_backend=make_display(settings))
runtime.start()
try:
    runtime.cycle()
finally:
    modules = sorted(sys.modules)
    runtime.close()
print(json.dumps(modules))
"""


def _modules_after_start(config: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _RUN_PATH, str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def _unexpected(modules: set[str], names) -> dict[str, str]:
    return {name: NEVER_WITHOUT_ASKING.get(name, "") for name in names if _loaded(modules, name)}


def test_ems_over_tcp_without_screen_loads_neither_pillow_nor_what_is_switched_off(tmp_path):
    # No wallbox listens on the port: the link keeps retrying in its thread, start-up goes on.
    modules = _modules_after_start(settings_file(
        tmp_path, f'transport = "tcp"\nhost = "127.0.0.1"\nport = {free_port()}'))
    assert _loaded(modules, "appliance.chargers.vestel_ems") and _loaded(modules, "pyftpdlib")
    assert _unexpected(modules, NEVER_WITHOUT_ASKING) == {}
    # The screen is off: no Pillow, no fonts, no drawing code.
    assert not _loaded(modules, "PIL") and not _loaded(modules, "display.screens")
    # The basic box's meter emulation is not this driver.
    assert not _loaded(modules, "appliance.chargers.vestel_meter")


@pytest.mark.skipif(shutil.which("socat") is None, reason="the basic box's serial ports need socat")
def test_basic_box_with_png_screen_loads_no_ems_driver(tmp_path):
    with socat_pair(tmp_path, "meter") as (_meter_box, meter_app), socat_pair(tmp_path, "log") as (_log_box, log_app):
        modules = _modules_after_start(settings_file(
            tmp_path, f'kind = "meter"\nserial_port = "{meter_app}"\nparity = "N"\nlog_port = "{log_app}"\n'
                      'dip_limit_a = 16',
            display=f'backend = "png"\npng_path = "{tmp_path / "screen.png"}"'))
    assert _loaded(modules, "appliance.chargers.vestel_meter") and _loaded(modules, "display.screens")
    assert _unexpected(modules, NEVER_WITHOUT_ASKING) == {}
    # The EMS driver (its client, link and status schedule) is for boxes with the network module.
    assert not _loaded(modules, "appliance.chargers.vestel_ems")


#: What `wallbox run` sets up only after the first setpoint (README, "Performance": start-up).
AFTER_THE_FIRST_SETPOINT = {
    "pyftpdlib": "the FTP server for the pushes (Runtime.start, after the first cycle)",
    "crypt": "pyftpdlib's authorizers (five crypt() calls at import)",
    "appliance.sources.ftp_receiver": "the FTP server for the pushes",
    "appliance.control_socket": "the control socket",
    "PIL": "the screen (service.run_service opens it after the first setpoint)",
    "display": "the screen; `wallbox run` needs no display.output for its error messages",
    "shutil": "argparse's help width (cli._Parser asks the terminal once, without shutil)",
}

_FIRST_CYCLE = """
import json, sys
from appliance import cli, runtime

first = {}
cycle = runtime.Runtime.cycle

def recording(self):
    if not first:
        first["modules"] = sorted(sys.modules)
        self.stop()   # run_service goes on setting up, then stops at once
    cycle(self)

runtime.Runtime.cycle = recording
code = cli.main(["run", "--config", sys.argv[1]])
print(json.dumps(first["modules"]))
sys.exit(code)
"""


def test_run_loads_neither_the_ftp_server_nor_the_socket_nor_pillow_before_the_first_setpoint(tmp_path):
    # The whole `wallbox run` command, screen on: the first cycle (the first setpoint) comes before
    # the FTP server, the control socket and the screen are set up, and nothing loads them early.
    config = settings_file(tmp_path, f'transport = "tcp"\nhost = "127.0.0.1"\nport = {free_port()}',
                       display=f'backend = "png"\npng_path = "{tmp_path / "screen.png"}"')
    done = subprocess.run([sys.executable, "-c", _FIRST_CYCLE, str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert _loaded(modules, "appliance.chargers.vestel_ems")
    loaded_early = {name: why for name, why in AFTER_THE_FIRST_SETPOINT.items() if _loaded(modules, name)}
    assert loaded_early == {}
    # ... and after it the service did set them up: it logged the FTP server and the socket.
    assert "Waiting for inverter pushes by FTP" in done.stdout and "Listening for commands" in done.stdout


def test_the_settings_kinds_are_frozen_values_that_dataclass_does_not_generate():
    # dataclass() compiles six methods per class at import: the 15 kinds share Kind's instead.
    from dataclasses import FrozenInstanceError, is_dataclass

    from appliance import config_keys as ck

    kinds = [c for c in vars(ck).values() if isinstance(c, type) and issubclass(c, ck.Kind) and c is not ck.Kind]
    assert len(kinds) >= 15 and [k.__name__ for k in kinds if is_dataclass(k)] == []
    assert ck.Int(0, 5) == ck.Int(lo=0, hi=5) and hash(ck.Int(0, 5)) == hash(ck.Int(lo=0, hi=5))
    assert ck.Int(0, 5) != ck.Num(0, 5) and ck.Int(0, 5) != ck.Int(0, 6)
    assert ck.OptionalInt(1, 2)._fields == ("lo", "hi") and repr(ck.Choice((1, 3))) == "Choice(values=(1, 3))"
    assert ck.Text().max_chars == 200 and ck.Text(required="x").required == "x"
    with pytest.raises(FrozenInstanceError):
        ck.Int(0, 5).lo = 1
    with pytest.raises(TypeError):
        ck.Int(0)
    with pytest.raises(TypeError):
        ck.Bool(1)


def test_the_dataclasses_of_the_settings_and_policy_have_docstrings():
    # Without one, dataclass() formats an inspect.signature() as the docstring at import.
    import importlib
    from dataclasses import is_dataclass

    names = ("appliance.config", "appliance.config_keys", "appliance.policy.phases",
             "appliance.policy.pv_surplus")
    missing = [f"{name}.{cls.__name__}" for name in names for cls in vars(importlib.import_module(name)).values()
               if is_dataclass(cls) and isinstance(cls, type) and cls.__module__ == name
               and (cls.__doc__ or "").startswith(cls.__name__ + "(")]
    assert missing == []
