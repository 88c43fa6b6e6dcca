"""`wallbox probe --inverter HOST`: which inverter data sources answer there, and the settings
lines that use the best of them.

Asks, reading only: the Solar API (GetAPIVersion, then GetPowerFlowRealtimeData) and Modbus TCP
SunSpec (which models at the inverter's and the meter's unit); the caller adds whether pushes
have arrived (the running service knows, this function cannot).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .fronius import FroniusDataError, Measurement, parse_document
from .sunspec import INVERTER_MODELS, METER_MODELS, MPPT_MODEL, STORAGE_MODEL, SunSpecError
from .sunspec_poller import SunSpecPoller

API_VERSION_PATH = "/solar_api/GetAPIVersion.cgi"


def fmt_w(watts: float) -> str:
    return f"{watts:.0f} W"


@dataclass(frozen=True)
class SolarApiFinding:
    url: str
    api_version: int | None = None
    reading: Measurement | None = None
    problem: str | None = None  # why it does not answer usefully; None = it does


@dataclass(frozen=True)
class SunSpecFinding:
    address: str
    inverter_models: tuple[int, ...] = ()
    meter_models: tuple[int, ...] = ()
    reading: Measurement | None = None
    problem: str | None = None


@dataclass(frozen=True)
class PushFinding:
    source: str      # the file name of the latest push
    age_s: float     # how long ago it arrived


@dataclass(frozen=True)
class InverterProbe:
    host: str
    solar_api: SolarApiFinding
    sunspec: SunSpecFinding
    push: PushFinding | None
    inverter_unit: int = 1
    meter_unit: int = 200
    modbus_port: int = 502

    def suggested_source(self) -> str | None:
        """push when pushes arrive (no polling at all), else the Solar API when it reports a
        grid meter (one request a reading, battery included), else SunSpec, else the Solar API
        without a meter; None when nothing answers."""
        if self.push is not None:
            return "push"
        api_ok = self.solar_api.problem is None
        spec_ok = self.sunspec.problem is None
        if api_ok and self.solar_api.reading is not None and self.solar_api.reading.grid_w is not None:
            return "solar_api"
        if spec_ok:
            return "sunspec"
        return "solar_api" if api_ok else None

    def settings_lines(self) -> list[str]:
        source = self.suggested_source()
        if source is None:
            return []
        lines = ["[fronius]", f'source = "{source}"']
        if source == "solar_api":
            lines.append(f'solar_api_url = "{self.solar_api.url}"')
        elif source == "sunspec":
            lines += [f'sunspec_host = "{self.host}"', f"sunspec_port = {self.modbus_port}",
                      f"sunspec_inverter_unit = {self.inverter_unit}",
                      f"sunspec_meter_unit = {self.meter_unit}"]
        return lines


def _probe_solar_api(base_url: str, timeout_s: float, get: Callable) -> SolarApiFinding:
    try:
        answer = get(base_url + API_VERSION_PATH, timeout=timeout_s)
    except requests.RequestException as exc:
        return SolarApiFinding(base_url, problem=f"no answer ({exc.__class__.__name__})")
    if answer.status_code != 200:
        return SolarApiFinding(base_url, problem=f"HTTP {answer.status_code}: enable the Solar API "
                               "in the inverter's web interface (Communication -> Solar API)")
    try:
        info = answer.json()
        version, path = int(info["APIVersion"]), str(info.get("BaseURL", "/solar_api/v1/"))
    except (ValueError, KeyError, TypeError):
        return SolarApiFinding(base_url, problem="GetAPIVersion did not answer like a Fronius")
    try:
        flow = get(base_url + "/" + path.strip("/") + "/GetPowerFlowRealtimeData.fcgi",
                   timeout=timeout_s)
        reading = parse_document(flow.content, source=flow.url, received_at=time.monotonic())
    except requests.RequestException as exc:
        return SolarApiFinding(base_url, version, problem=f"the power flow did not answer "
                               f"({exc.__class__.__name__})")
    except FroniusDataError as exc:
        return SolarApiFinding(base_url, version, problem=f"the power flow is not usable: {exc}")
    return SolarApiFinding(base_url, version, reading)


def _probe_sunspec(host: str, port: int, inverter_unit: int, meter_unit: int,
                   timeout_s: float) -> SunSpecFinding:
    address = f"{host}:{port}"
    poller = SunSpecPoller(host, lambda m: None, port=port, inverter_unit=inverter_unit,
                           meter_unit=meter_unit, timeout_s=timeout_s)
    try:
        inverter, meter = poller.models()
        reading = poller.poll_once()
    except SunSpecError as exc:
        return SunSpecFinding(address, problem=str(exc))
    finally:
        poller.stop()
    found = SunSpecFinding(address, tuple(sorted(inverter)), tuple(sorted(meter)), reading)
    if not any(m in inverter for m in INVERTER_MODELS):
        return SunSpecFinding(address, found.inverter_models, found.meter_models, reading,
                              problem=f"unit {inverter_unit} has no inverter model")
    return found


def probe_inverter(host: str, *, http_port: int = 80, modbus_port: int = 502,
                   inverter_unit: int = 1, meter_unit: int = 200, timeout_s: float = 2.0,
                   push: PushFinding | None = None, get: Callable = requests.get) -> InverterProbe:
    """Ask the inverter at ``host`` over the Solar API and SunSpec; reads only, writes nothing."""
    host = host.strip()
    base_url = f"http://{host}" if http_port == 80 else f"http://{host}:{http_port}"
    return InverterProbe(
        host=host,
        solar_api=_probe_solar_api(base_url, timeout_s, get),
        sunspec=_probe_sunspec(host, modbus_port, inverter_unit, meter_unit, timeout_s),
        push=push, inverter_unit=inverter_unit, meter_unit=meter_unit, modbus_port=modbus_port,
    )


def _reading_text(m: Measurement) -> str:
    parts = [f"PV {fmt_w(m.pv_production_w if m.pv_production_w is not None else m.pv_w)}"]
    parts.append("no grid meter" if m.grid_w is None else f"grid {fmt_w(m.grid_w)} (+ import)")
    if m.battery_w is not None:
        soc = f" at {m.soc_pct:.0f} %" if m.soc_pct is not None else ""
        parts.append(f"battery {fmt_w(m.battery_w)} (- charging){soc}")
    return ", ".join(parts)


def report_lines(probe: InverterProbe) -> list[str]:
    """The probe as sentences for the installer, ending with the settings lines to use."""
    api, spec = probe.solar_api, probe.sunspec
    lines = [f"Inverter at {probe.host}:"]
    if api.problem is None:
        lines.append(f"  Solar API v{api.api_version} answers at {api.url}: {_reading_text(api.reading)}.")
    else:
        lines.append(f"  Solar API at {api.url}: {api.problem}.")
    if spec.problem is None:
        extras = [name for model, name in ((STORAGE_MODEL, "storage 124"), (MPPT_MODEL, "MPPT 160"))
                  if model in spec.inverter_models]
        meter = (f"meter models {', '.join(map(str, spec.meter_models))} at unit {probe.meter_unit}"
                 if any(m in METER_MODELS for m in spec.meter_models)
                 else f"no meter at unit {probe.meter_unit}")
        lines.append(f"  SunSpec answers at {spec.address}: models "
                     f"{', '.join(map(str, spec.inverter_models))} at unit {probe.inverter_unit}"
                     f"{' (' + ', '.join(extras) + ')' if extras else ''}; {meter}.")
        if spec.reading is not None:
            lines.append(f"    {_reading_text(spec.reading)}.")
    else:
        lines.append(f"  SunSpec at {spec.address}: {spec.problem}")
    if probe.push is not None:
        lines.append(f"  Pushes arrive: the latest ({probe.push.source}) {probe.push.age_s:.0f} s ago.")
    else:
        lines.append("  No push has arrived (pushes need a Datamanager; GEN24 has none).")
    settings = probe.settings_lines()
    if settings:
        lines += ["", "Put this into the settings file:"] + [f"  {line}" for line in settings]
    else:
        lines += ["", "Nothing answers: check the address, that the inverter is on, and enable "
                  "the Solar API or Modbus TCP in its web interface."]
    return lines


def print_probe(probe: InverterProbe, out=print) -> int:
    """Print the report; exit code 0 when a source answers, 1 when none does."""
    for line in report_lines(probe):
        out(line)
    return 0 if probe.suggested_source() is not None else 1
