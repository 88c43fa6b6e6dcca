"""Rules that tie settings keys together: each value is fine alone, but not in this combination.

A rule runs only when every key it reads was read and is valid on its own (a command that loads
only some sections gets only the rules among those sections).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from .config import LCD_PINS, allowance_only_current_a
from .config_keys import MISSING

Found = Iterator[tuple[str, Any, str]]
_RULES: list[tuple[tuple[str, ...], Callable[..., Found]]] = []


def rule(*needs: str):
    """Registers a rule over the dotted keys `needs`; it gets their values as arguments."""
    def register(fn: Callable[..., Found]) -> Callable[..., Found]:
        _RULES.append((needs, fn))
        return fn
    return register


def check_rules(values: dict[str, dict[str, Any]]) -> list:
    from .config import Problem

    problems = []
    for needs, fn in _RULES:
        args = []
        for dotted in needs:
            section, name = dotted.split(".")
            args.append(values.get(section, {}).get(name, MISSING))
        if all(a is not MISSING for a in args):
            problems.extend(Problem(k, v, allowed) for k, v, allowed in fn(*args))
    return problems


@rule("wallbox.transport", "wallbox.host")
def _tcp_needs_a_host(transport: str, host: str) -> Found:
    if transport == "tcp" and not host:
        yield "wallbox.host", host, 'required with transport = "tcp": the wallbox\'s IP address'


@rule("wallbox.transport", "wallbox.serial_port")
def _rtu_needs_a_port(transport: str, serial_port: str) -> Found:
    if transport == "rtu" and not serial_port:
        yield ("wallbox.serial_port", serial_port,
               'required with transport = "rtu": the RS-485 converter, e.g. "/dev/ttyUSB0"')


@rule("wallbox.min_current_a", "wallbox.max_current_a")
def _max_not_below_min(lo: int, hi: int) -> Found:
    if hi < lo:
        yield "wallbox.max_current_a", hi, f"must be at least wallbox.min_current_a ({lo} A)"


@rule("grid.allowance_w", "grid.phases", "grid.voltage_v", "wallbox.min_current_a",
      "wallbox.max_current_a", "wallbox.failsafe_current_a")
def _failsafe_is_safe_without_pv(allowance_w, phases, voltage_v, lo, hi, failsafe_a) -> Found:
    """Safety rule 5: the current the box falls back to must be safe with no PV at all."""
    if failsafe_a is None:
        return
    safe = allowance_only_current_a(allowance_w, phases, voltage_v, lo, hi)
    if failsafe_a > safe:
        yield ("wallbox.failsafe_current_a", failsafe_a, f"must be at most {safe} A, the current that "
               "grid.allowance_w allows with no PV (or leave it out to use that)")
    elif 0 < failsafe_a < lo:
        yield "wallbox.failsafe_current_a", failsafe_a, f"must be 0 or at least {lo} A (never 1-5 A)"


@rule("wallbox.kind", "wallbox.transport")
def _meter_is_rs485(kind: str, transport: str) -> Found:
    if kind == "meter" and transport != "rtu":
        yield ("wallbox.transport", transport, 'must be "rtu" with kind = "meter": a basic wallbox is '
               "driven over RS-485 as its energy meter (or set kind = \"ems\" for a box with the network "
               "module)")


@rule("wallbox.kind", "wallbox.serial_port", "wallbox.log_port")
def _meter_needs_two_ports(kind: str, serial_port: str, log_port: str) -> Found:
    if kind == "meter" and serial_port == log_port:
        yield ("wallbox.log_port", log_port, "must differ from wallbox.serial_port: the meter bus (RS-485) "
               "and the LOG header (3.3 V serial) are two separate wires")


@rule("wallbox.one_phase_below_w", "wallbox.three_phase_above_w")
def _phase_hysteresis(one_below_w: int, three_above_w: int) -> Found:
    if three_above_w <= one_below_w:
        yield ("wallbox.three_phase_above_w", three_above_w, f"must be above wallbox.one_phase_below_w "
               f"({one_below_w} W), or the phases would switch back and forth")


@rule("wallbox.phase_switching", "grid.phases")
def _phase_switching_needs_three(switching: bool, phases: int) -> Found:
    if switching and phases != 3:
        yield ("wallbox.phase_switching", switching, "needs grid.phases = 3: a single-phase connection "
               "has no phases to switch")


@rule("fronius.source", "fronius.ftp_password")
def _push_needs_a_password(source: str, password: str) -> Found:
    if source == "push" and not password.strip():
        yield ("fronius.ftp_password", password, "required: choose a password and enter the same one in "
               "the inverter's Push Service (Settings -> Push Service -> FTP)")


@rule("fronius.source", "fronius.solar_api_url")
def _solar_api_needs_a_url(source: str, url: str) -> Found:
    if source == "solar_api" and not url:
        yield ("fronius.solar_api_url", url, 'required with source = "solar_api": the inverter\'s address, '
               'e.g. "http://192.168.178.40"')


@rule("fronius.source", "fronius.sunspec_host")
def _sunspec_needs_a_host(source: str, host: str) -> Found:
    if source == "sunspec" and not host:
        yield ("fronius.sunspec_host", host, 'required with source = "sunspec": the inverter\'s IP address, '
               'e.g. "192.168.178.40" (and Modbus TCP enabled in its web page)')


@rule("display.backend", "display.png_path")
def _png_needs_a_path(backend: str, png_path: str) -> Found:
    if backend == "png" and not png_path:
        yield "display.png_path", png_path, 'required with backend = "png"'


@rule("button.pin", "display.backend")
def _button_off_the_lcd(pin: int, backend: str) -> Found:
    if pin in LCD_PINS and backend == "st7735":
        yield ("button.pin", pin, f"BCM{pin} is the {LCD_PINS[pin]}: wire the button to another pin, "
               "e.g. 21 (header pin 40)")


@rule("dimming.pin", "display.backend", "button.pin")
def _dimming_input_pin_free(pin: int, backend: str, button_pin: int) -> Found:
    if pin and pin in LCD_PINS and backend == "st7735":
        yield ("dimming.pin", pin, f"BCM{pin} is the {LCD_PINS[pin]}: wire the control input to another "
               "pin, e.g. 20 (header pin 38)")
    elif pin and pin == button_pin:
        yield ("dimming.pin", pin, f"BCM{pin} is button.pin already: wire the control input to another "
               "pin, e.g. 20 (header pin 38)")


@rule("dimming.pin", "dimming.dimmed_allowance_w", "grid.allowance_w")
def _dimming_never_raises(pin: int, dimmed_w: int, allowance_w: int) -> Found:
    if pin and dimmed_w > allowance_w:
        yield ("dimming.dimmed_allowance_w", dimmed_w, f"must be at most grid.allowance_w ({allowance_w} W): "
               "dimming only ever lowers the allowance")


@rule("web.enabled", "web.port", "fronius.source", "fronius.ftp_port")
def _web_and_ftp_ports_differ(enabled: bool, web_port: int, source: str, ftp_port: int) -> Found:
    if enabled and source == "push" and web_port == ftp_port:
        yield ("web.port", web_port, "is fronius.ftp_port too, and one port serves one program: choose "
               "another, e.g. 8080")


@rule("mqtt.username", "mqtt.password")
def _mqtt_password_needs_a_user(username: str, password: str) -> Found:
    if password and not username:
        yield ("mqtt.username", username, "required with mqtt.password: the broker checks the pair")


@rule("wallbox.transport", "wallbox.unit_id")
def _rtu_unit_answers(transport: str, unit_id: int) -> Found:
    if transport == "rtu" and unit_id == 0:
        yield ("wallbox.unit_id", unit_id, "must not be 0 with transport = \"rtu\": 0 is the broadcast "
               "address, which no device answers; the wallbox uses 255")


@rule("fronius.source", "fronius.solar_api_interval_s", "fronius.stale_after_s")
def _polls_come_before_data_goes_stale(source: str, interval_s: float, stale_after_s: float) -> Found:
    if source == "solar_api" and stale_after_s <= 2 * interval_s:
        yield ("fronius.stale_after_s", stale_after_s, f"must be more than twice "
               f"fronius.solar_api_interval_s ({interval_s:g} s) with source = \"solar_api\", or one slow "
               "answer makes the inverter data count as missing")
