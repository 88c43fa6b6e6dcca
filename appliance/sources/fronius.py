"""Fronius inverter data: push/poll JSON -> Measurement, and the Solar API poller.

The inverter's Datamanager pushes "Current data - Powerflow" (or "Current data - Inverter")
documents by FTP; polling ``GetPowerFlowRealtimeData.fcgi`` over HTTP is the fallback. Both end
up in :func:`parse_document`, which turns one document into a :class:`Measurement` or refuses it
with a :class:`FroniusDataError` that says which field held which value.

Choices made here (the control policy relies on them):

- ``Site.P_PV`` null (night, dusk, inverter asleep) is PV 0 W, not an error. It stays 0 W even when
  ``Inverters.<n>.P`` carries numbers: ``P_PV`` is the inverter's own statement about PV, and the
  safety rules count unknown PV as 0, so the conservative reading wins.
- Everything we use must be a finite JSON number (no strings, no booleans, no NaN/Infinity) and
  at most 1 MW in magnitude; PV must not be negative. Fields we do not use are not checked.
- An error answer (``Head.Status.Code`` != 0) is refused with its code and reason.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..input_limits import PUSH_LIMITS, json_problem

log = logging.getLogger("appliance.fronius")

#: Largest power magnitude accepted in any field. A house with a wallbox is far below this;
#: anything larger is a unit mix-up or a corrupt document.
MAX_POWER_W = 1_000_000.0



class FroniusDataError(ValueError):
    """A document that cannot be used; ``str(e)`` says which field held which value and why."""


@dataclass(frozen=True)
class Measurement:
    """One reading of the inverter, in Fronius signs whatever the source.

    ``pv_w`` is the PV the policy counts: what reaches the house's AC side from the PV, that is
    PV production minus what the home battery is charging with. A GEN24 reports ``P_PV`` on the DC
    side, so a charging battery takes its share before the house sees it; counting all of it
    would let the car draw the battery's charging power from the grid beyond the allowance.
    Battery discharge is never in ``pv_w``: :func:`pv_for_car_w` adds it when the settings allow
    the car to use the battery.
    """

    pv_w: float  # PV reaching the AC side, W, >= 0: production minus battery charging
    grid_w: float | None  # Site.P_Grid: + import / - export; None without a meter
    load_w: float | None  # Site.P_Load as Fronius reports it (negative = consumption)
    battery_w: float | None  # Site.P_Akku: - charging, + discharging; None = no battery
    kind: str  # "powerflow", "inverter" (the PAC push) or "sunspec"
    inverter_time: datetime | None  # Head.Timestamp, timezone-aware
    source: str  # file name or URL it came from (for logs)
    received_at: float  # the appliance's clock (monotonic seconds) when it arrived
    pv_production_w: float | None = None  # PV production (DC side on hybrids), W; None = as pv_w
    soc_pct: float | None = None  # home battery state of charge, 0..100; None = no battery/unknown

    @property
    def battery_charging_w(self) -> float:
        """Power going into the home battery now (>= 0)."""
        return max(0.0, -self.battery_w) if self.battery_w is not None else 0.0

    @property
    def battery_discharging_w(self) -> float:
        """Power coming out of the home battery now (>= 0)."""
        return max(0.0, self.battery_w) if self.battery_w is not None else 0.0


def pv_ac_w(pv_production_w: float, battery_w: float | None) -> float:
    """PV that reaches the AC side: production minus battery charging, never below 0.

    A battery charged from the grid (production 0, P_Akku negative) gives 0, not a negative PV.
    """
    charging_w = max(0.0, -battery_w) if battery_w is not None else 0.0
    return max(0.0, pv_production_w - charging_w)


def pv_for_car_w(m: Measurement, car_may_discharge: bool = False) -> float:
    """The PV figure the allowance rule counts: ``m.pv_w``, plus the battery's discharge only when
    the settings let the car use the home battery ([battery] car_may_discharge)."""
    if car_may_discharge:
        return m.pv_w + m.battery_discharging_w
    return m.pv_w


def identity_gap_w(m: Measurement) -> float | None:
    """How far the reading is from the power balance ``P_Load = -(P_Grid + P_PV + P_Akku)``, W.

    None when a term is missing (no meter, no load figure). Fronius rounds and samples the terms
    at slightly different moments, so a few tens of watts are normal.
    """
    if m.grid_w is None or m.load_w is None:
        return None
    production_w = m.pv_production_w if m.pv_production_w is not None else m.pv_w
    return m.load_w + m.grid_w + production_w + (m.battery_w or 0.0)


def _first_non_finite(doc: Any) -> tuple[str, float] | None:
    """Path and value of the first NaN/Infinity anywhere in the document, else None."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path or "the document", value
        if isinstance(value, Mapping):
            items = list(value.items())
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            continue
        for key, item in reversed(items):
            stack.append((f"{path}.{key}" if path else str(key), item))
    return None


def _load_json(data: bytes | str) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if not raw.strip():
            raise FroniusDataError("The document is empty (0 bytes of JSON).")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FroniusDataError(
                f"The document is not UTF-8 text (bad byte at offset {exc.start}): "
                "set the push service's data format to a JSON 'Current data' type."
            ) from None
    else:
        text = data.removeprefix("\ufeff")
        if not text.strip():
            raise FroniusDataError("The document is empty (no JSON text).")
    problem = json_problem(text, PUSH_LIMITS)
    if problem:
        raise FroniusDataError(f"The document is refused: {problem}; a Fronius document is small "
                               "and flat, so this is not inverter data.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = (
            " (it ends early: the upload was probably cut off)"
            if exc.pos >= len(text.rstrip())
            else ""
        )
        raise FroniusDataError(
            f"The document is not valid JSON{hint}: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno} of {len(text)} characters."
        ) from None
    except RecursionError:
        raise FroniusDataError("The document is nested too deeply to be a Fronius document.") from None
    except ValueError as exc:  # e.g. Python's limit on integer digits; the check above comes first
        raise FroniusDataError(f"The document has a value that cannot be read: {exc}.") from None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _power(value: Any, field: str) -> float | None:
    """A power field: None stays None; anything but a finite number within 1 MW is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FroniusDataError(
            f"{field} is {_describe(value)} ({type(value).__name__}), not a number of watts."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise FroniusDataError(f"{field} is {value!r}, not a finite number of watts.")
    if abs(value) > MAX_POWER_W:
        raise FroniusDataError(
            f"{field} is {_describe(value)} W, beyond the plausible 1 MW: "
            "the document is corrupt or not in watts."
        )
    return float(value)


def _pv_power(value: Any, field: str) -> float:
    power = _power(value, field)
    if power is None:
        return 0.0
    if power < 0:
        raise FroniusDataError(f"{field} is {_describe(value)} W: PV power cannot be negative.")
    return power


def _object(value: Any, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise FroniusDataError(
            f"{field} is {_describe(value)} ({type(value).__name__}), not a JSON object."
        )
    return value


def _inverter_time(head: Mapping) -> datetime | None:
    stamp = head.get("Timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None and when.utcoffset() is not None else None


def _check_status(head: Mapping) -> None:
    status = head.get("Status")
    if status is None:
        return
    status = _object(status, "Head.Status")
    code = status.get("Code", 0)
    if code == 0 and not isinstance(code, bool):
        return
    reason = status.get("Reason")
    reason_text = f": {reason}" if isinstance(reason, str) and reason else ""
    raise FroniusDataError(
        f"The inverter answered with error code {_describe(code)} (Head.Status.Code){reason_text}"
    )


def _keys_hint(data: Mapping) -> str:
    keys = [str(k) for k in list(data.keys())[:6]]
    return ", ".join(keys) if keys else "nothing"


def _is_meter_data(data: Mapping) -> bool:
    if "PowerReal_P_Sum" in data:
        return True
    return any(isinstance(v, Mapping) and "PowerReal_P_Sum" in v for v in data.values())


def _battery_soc(inverters: Mapping, prefix: str) -> float | None:
    """Mean ``SOC`` of the inverters that have a battery; None when none reports one.

    A GEN24 without a battery reports ``SOC`` 0.0 with ``Battery_Mode`` "disabled": that is no
    battery, not an empty one.
    """
    socs = []
    for inverter_id, inverter in inverters.items():
        if not isinstance(inverter, Mapping) or inverter.get("SOC") is None:
            continue
        if inverter.get("Battery_Mode") == "disabled":
            continue
        field = f"{prefix}.Inverters.{inverter_id}.SOC"
        soc = inverter["SOC"]
        if isinstance(soc, bool) or not isinstance(soc, (int, float)) or not 0.0 <= soc <= 100.0:
            raise FroniusDataError(f"{field} is {_describe(inverter['SOC'])}: a state of charge "
                                   "is a percentage from 0 to 100.")
        socs.append(float(soc))
    return sum(socs) / len(socs) if socs else None


def _powerflow(body: Mapping, prefix: str, inverter_time: datetime | None, source: str,
               received_at: float) -> Measurement:
    site = _object(body["Site"], f"{prefix}.Site")
    production_w = _pv_power(site.get("P_PV"), f"{prefix}.Site.P_PV")
    battery_w = _power(site.get("P_Akku"), f"{prefix}.Site.P_Akku")
    soc_pct = None
    if battery_w is not None and "Inverters" in body:
        soc_pct = _battery_soc(_object(body["Inverters"], f"{prefix}.Inverters"), prefix)
    return Measurement(
        pv_w=pv_ac_w(production_w, battery_w),
        grid_w=_power(site.get("P_Grid"), f"{prefix}.Site.P_Grid"),
        load_w=_power(site.get("P_Load"), f"{prefix}.Site.P_Load"),
        battery_w=battery_w,
        kind="powerflow",
        inverter_time=inverter_time,
        source=source,
        received_at=received_at,
        pv_production_w=production_w,
        soc_pct=soc_pct,
    )


def _inverter_push(body: Mapping, prefix: str, inverter_time: datetime | None, source: str,
                   received_at: float) -> Measurement:
    pac = _object(body["PAC"], f"{prefix}.PAC")
    unit = pac.get("Unit", "W")
    if unit != "W":
        raise FroniusDataError(
            f"{prefix}.PAC.Unit is {_describe(unit)}; the appliance understands only 'W'."
        )
    values = _object(pac.get("Values", {}), f"{prefix}.PAC.Values")
    total_w = 0.0
    for inverter_id, value in values.items():
        total_w += _pv_power(value, f"{prefix}.PAC.Values.{inverter_id}")
    _pv_power(total_w, f"{prefix}.PAC.Values (sum)")
    return Measurement(
        pv_w=total_w,  # AC power already: a battery's charging is not in it
        grid_w=None,
        load_w=None,
        battery_w=None,
        kind="inverter",
        inverter_time=inverter_time,
        source=source,
        received_at=received_at,
    )


def parse_document(
    data: bytes | str | Mapping, *, source: str, received_at: float
) -> Measurement:
    """One Fronius JSON document (push file or Solar API answer) -> Measurement.

    Raises FroniusDataError (and nothing else) for anything that cannot be used.
    """
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        doc = _load_json(data)
    else:
        doc = data  # an already decoded document (anything but a mapping is refused below)
    if not isinstance(doc, Mapping):
        raise FroniusDataError(
            f"The document is a JSON {type(doc).__name__}, not an object with Head and Body."
        )
    bad = _first_non_finite(doc)
    if bad is not None:
        raise FroniusDataError(
            f"{bad[0]} is {bad[1]!r}: NaN and Infinity are not valid JSON numbers."
        )
    head = doc.get("Head")
    if head is not None:
        head = _object(head, "Head")
        _check_status(head)
    else:
        head = {}
    if "Body" not in doc:
        raise FroniusDataError(
            f"The document has no Body (it has {_keys_hint(doc)}): "
            "this is not Fronius Solar API data."
        )
    body = _object(doc["Body"], "Body")
    prefix = "Body"
    if "Data" in body:
        body = _object(body["Data"], "Body.Data")
        prefix = "Body.Data"
    inverter_time = _inverter_time(head)

    if "Site" in body:
        return _powerflow(body, prefix, inverter_time, source, received_at)
    if "PAC" in body:
        return _inverter_push(body, prefix, inverter_time, source, received_at)
    if _is_meter_data(body):
        raise FroniusDataError(
            "This is smart-meter data (GetMeterRealtimeData), not a power flow: "
            "set the push service's data format to 'Current data - Powerflow'."
        )
    raise FroniusDataError(
        f"{prefix} has neither Site (power flow) nor PAC (inverter data); it has "
        f"{_keys_hint(body)}: set the push service's data format to 'Current data - Powerflow'."
    )


# The Solar API poller lives in solar_api.py (it uses parse_document); these names are looked up
# there on first use, so `from appliance.sources.fronius import SolarApiPoller` keeps working.
_FROM_SOLAR_API = ("POWERFLOW_PATH", "SOLAR_API_DEFAULT_INTERVAL_S", "SOLAR_API_MIN_INTERVAL_S",
                   "SolarApiPoller")


def __getattr__(name: str):
    if name in _FROM_SOLAR_API:
        from . import solar_api

        return getattr(solar_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
