"""A simulated Fronius GEN24 with a home battery and a smart meter, speaking Modbus TCP SunSpec
and, like the real one, the Solar API over HTTP (both from the same power model).

Laid out like a GEN24 Plus: the inverter at unit 1 with models 1 (common), 103 (or 113 in float
mode), 120 (nameplate), 121-123 (settings, status, controls: zeros here), 160 (MPPT: two
strings, then "StCha" and "StDisCha" for the battery) and 124 (storage), and the smart meter at unit 200 with models 1 and 203 (or 213). The chain starts
with "SunS" at 40000 (``base`` moves it, to test the 0 and 50000 starts) and ends with 0xFFFF.

The power model is the inverter's own battery control: PV first covers the house and the car,
what is left charges the battery (up to its charging power, until full) and the rest is
exported; a shortfall is covered by the battery (down to 5 %) and the rest is imported. The
state of charge follows the battery's power over the injected clock.

Field offsets come from appliance/sources/sunspec.py, so the reader and this simulator share
one map.
"""

from __future__ import annotations

import json
import math
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..modbus_server_thread import ModbusServerThread, ServerStartError
from ..sources import sunspec as ss

END_OF_CHAIN = [ss.END_MODEL_ID, 0]


def _u16(value: float) -> int:
    return max(0, min(0xFFFE, int(round(value))))


def _i16(value: float) -> int:
    return max(-0x7FFF, min(0x7FFF, int(round(value)))) & 0xFFFF


def _f32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def _text(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii")[: registers * 2].ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _model(model_id: int, body: list[int]) -> list[int]:
    return [model_id, len(body)] + body


def common_model(model: str, serial: str) -> list[int]:
    body = (_text("Fronius", 16) + _text(model, 16) + _text("", 8) + _text("1.30.7-1", 8)
            + _text(serial, 16) + [1])
    return _model(ss.COMMON_MODEL, body)


class SimulatedSunSpecInverter:
    """A GEN24 on Modbus TCP; set the sun, the house and the car, read it like the real one."""

    def __init__(self, *, float_mode: bool = False, base: int = 40000, inverter_unit: int = 1,
                 meter_unit: int | None = 200, battery: bool = True,
                 capacity_wh: float = 10_000.0, soc_pct: float = 50.0,
                 max_charge_w: float = 5000.0, max_discharge_w: float = 5000.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.float_mode, self.base = float_mode, base
        self.inverter_unit, self.meter_unit = inverter_unit, meter_unit
        self.battery = battery
        self.capacity_wh, self.soc_pct = capacity_wh, soc_pct
        self.max_charge_w, self.max_discharge_w = max_charge_w, max_discharge_w
        self.production_w = 0.0
        self.house_w = 300.0
        self.car_w = 0.0
        self._clock = clock
        self._last_tick = clock()
        self._lock = threading.Lock()
        self._serving = ModbusServerThread("sim-sunspec")
        self._http: ThreadingHTTPServer | None = None
        self.reads = 0

    # -- the power model

    def set(self, **values: float) -> None:
        """Change production_w, house_w, car_w or soc_pct (after accounting the time so far)."""
        with self._lock:
            self._tick()
            for name, value in values.items():
                if name not in ("production_w", "house_w", "car_w", "soc_pct"):
                    raise TypeError(f"unknown setting {name!r}")
                setattr(self, name, float(value))

    def flows(self) -> tuple[float, float, float]:
        """(inverter AC power, grid power + import, battery power - charging) now."""
        net_w = self.production_w - self.house_w - self.car_w
        battery_w = 0.0
        if self.battery and net_w >= 0 and self.soc_pct < 100.0:
            battery_w = -min(net_w, self.max_charge_w)
        elif self.battery and net_w < 0 and self.soc_pct > 5.0:
            battery_w = min(-net_w, self.max_discharge_w)
        ac_w = self.production_w + battery_w
        grid_w = self.house_w + self.car_w - ac_w
        return ac_w, grid_w, battery_w

    def _tick(self) -> None:
        now = self._clock()
        dt_s, self._last_tick = max(0.0, now - self._last_tick), now
        if self.battery and dt_s and self.capacity_wh > 0:
            _, _, battery_w = self.flows()
            self.soc_pct = min(100.0, max(0.0, self.soc_pct - battery_w * dt_s / 3600.0
                                          / self.capacity_wh * 100.0))

    # -- the register image

    def _inverter_models(self, ac_w: float, battery_w: float) -> list[int]:
        words = common_model("Primo GEN24 10.0 Plus", "33550001")
        if self.float_mode:
            body = [0] * 60
            body[ss.INVERTER_FLOAT_W:ss.INVERTER_FLOAT_W + 2] = _f32(ac_w)
            words += _model(113, body)
        else:
            body = [0] * 50
            body[ss.INVERTER_W], body[ss.INVERTER_W_SF] = _i16(ac_w), 0
            words += _model(103, body)
        nameplate = [0] * 26
        nameplate[0], nameplate[1] = 4, 10000  # DERTyp PV+storage, WRtg 10 kW
        words += _model(ss.NAMEPLATE_MODEL, nameplate)
        # Settings, status and controls, which the appliance does not read: the walk passes them.
        for model_id, length in ((121, 30), (122, 44), (123, 24)):
            words += _model(model_id, [0] * length)
        words += self._mppt_model(battery_w)  # a GEN24 lists 160 before 124
        if self.battery:
            storage = [0] * 24
            storage[0] = _u16(self.max_charge_w)
            storage[ss.STORAGE_CHA_STATE] = _u16(self.soc_pct * 100)
            storage[9] = 4 if battery_w < 0 else 3 if battery_w > 0 else 6  # ChaSt
            storage[ss.STORAGE_CHA_STATE_SF] = _i16(-2)
            words += _model(ss.STORAGE_MODEL, storage)
        return words

    def _mppt_model(self, battery_w: float) -> list[int]:
        modules = [("MPPT 1", self.production_w * 0.6), ("MPPT 2", self.production_w * 0.4)]
        if self.battery:
            modules += [("StCha 3", max(0.0, -battery_w)), ("StDisCha 4", max(0.0, battery_w))]
        body = [0] * (ss.MPPT_MODULE_START + ss.MPPT_MODULE_LENGTH * len(modules))
        body[ss.MPPT_DCW_SF] = 0
        body[ss.MPPT_N] = len(modules)
        for i, (name, power_w) in enumerate(modules):
            start = ss.MPPT_MODULE_START + i * ss.MPPT_MODULE_LENGTH
            body[start] = i + 1
            body[start + ss.MPPT_ID_STR:start + ss.MPPT_ID_STR + ss.MPPT_ID_STR_LENGTH] = _text(
                name, ss.MPPT_ID_STR_LENGTH)
            body[start + ss.MPPT_DCW] = _u16(power_w)
        return _model(ss.MPPT_MODEL, body)

    def _meter_models(self, grid_w: float) -> list[int]:
        words = common_model("Smart Meter TS 65A-3", "41550002")
        if self.float_mode:
            body = [0] * 124
            body[ss.METER_FLOAT_W:ss.METER_FLOAT_W + 2] = _f32(grid_w)
            return words + _model(213, body)
        body = [0] * 105
        body[ss.METER_W], body[ss.METER_W_SF] = _i16(grid_w), 0
        for phase in range(3):
            body[ss.METER_W + 1 + phase] = _i16(grid_w / 3)
        return words + _model(203, body)

    def unit_words(self) -> dict[int, list[int]]:
        """Each unit's registers from ``base``: "SunS", the model chain, the end marker."""
        with self._lock:
            self._tick()
            ac_w, grid_w, battery_w = self.flows()
            units = {self.inverter_unit: self._inverter_models(ac_w, battery_w)}
            if self.meter_unit is not None:
                units[self.meter_unit] = self._meter_models(grid_w)
        return {unit: list(ss.SUNS_MARKER) + words + END_OF_CHAIN for unit, words in units.items()}

    # -- pymodbus glue

    def _devices(self):
        from pymodbus.simulator import DataType, SimData, SimDevice

        devices = []
        for unit, words in self.unit_words().items():
            block = SimData(address=self.base, count=len(words) + 8, values=0,
                            datatype=DataType.REGISTERS)
            devices.append(SimDevice(id=unit, simdata=[block], action=self._action_for(unit)))
        # Any other unit: "gateway target failed to respond", as the inverter's gateway answers.
        devices.append(SimDevice(id=0, simdata=[SimData(address=0, values=0,
                                                        datatype=DataType.REGISTERS)],
                                 action=self._no_such_unit))
        return devices

    @staticmethod
    async def _no_such_unit(function_code, start_address, address, count, registers, set_values):
        from pymodbus.constants import ExcCodes

        return ExcCodes.GATEWAY_NO_RESPONSE

    def _action_for(self, unit: int):
        async def action(function_code, start_address, address, count, registers, set_values):
            from pymodbus.constants import ExcCodes

            if function_code != 3 or set_values is not None:
                return ExcCodes.ILLEGAL_FUNCTION  # read-only: the appliance never writes here
            self.reads += 1
            words = self.unit_words()[unit]
            for a in range(address, address + count):
                offset = a - self.base
                registers[a - start_address] = words[offset] if 0 <= offset < len(words) else 0
            return None
        return action

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP in a background thread; returns the port (0 = a free one)."""
        from pymodbus.server import ModbusTcpServer

        try:
            return int(self._serving.start(lambda: ModbusTcpServer(self._devices(), address=(host, port))))
        except ServerStartError as exc:
            raise RuntimeError(f"The simulated inverter could not serve on {host}:{port}: {exc}") from exc

    # -- the same GEN24's Solar API (a real one answers both)

    def powerflow_document(self, when: datetime | None = None) -> dict:
        """GetPowerFlowRealtimeData as a GEN24 answers it, from the same power model."""
        with self._lock:
            self._tick()
            ac_w, grid_w, battery_w = self.flows()
            soc_pct = self.soc_pct
        when = when or datetime.now(timezone.utc)
        inverter = {"DT": 1, "P": ac_w, "E_Day": None, "E_Year": None,
                    "Battery_Mode": "normal" if self.battery else "disabled",
                    "SOC": soc_pct if self.battery else 0.0}
        site = {"Mode": "bidirectional" if self.battery else "meter",
                "Meter_Location": "grid" if self.meter_unit is not None else "unknown",
                "P_PV": self.production_w or None, "P_Akku": battery_w if self.battery else None,
                "P_Grid": grid_w if self.meter_unit is not None else None,
                "P_Load": -(self.house_w + self.car_w) if self.meter_unit is not None else None}
        return {"Body": {"Data": {"Inverters": {"1": inverter}, "Site": site, "Version": "13"}},
                "Head": {"RequestArguments": {}, "Status": {"Code": 0, "Reason": ""},
                         "Timestamp": when.isoformat(timespec="seconds")}}

    def serve_solar_api(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve GetAPIVersion and GetPowerFlowRealtimeData over HTTP; returns the port."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path.startswith("/solar_api/GetAPIVersion.cgi"):
                    doc = {"APIVersion": 1, "BaseURL": "/solar_api/v1/", "CompatibilityRange": "1.6-2"}
                elif self.path.startswith("/solar_api/v1/GetPowerFlowRealtimeData.fcgi"):
                    doc = owner.powerflow_document()
                else:
                    self.send_error(404)
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.1,), name="sim-solar-api",
                         daemon=True).start()
        self._http = server
        return server.server_address[1]

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()
        self._serving.stop()

    def __enter__(self) -> SimulatedSunSpecInverter:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def gen24_day_sim(fraction_of_day: float, sim: SimulatedSunSpecInverter, peak_w: float = 9000.0,
                  seed: int = 1) -> None:
    """Drive the simulator with the PV day model of appliance/sim/inverter.py."""
    from .inverter import pv_day_w

    production_w = pv_day_w(fraction_of_day, peak_w=peak_w, seed=seed)
    sim.set(production_w=production_w if math.isfinite(production_w) else 0.0)
