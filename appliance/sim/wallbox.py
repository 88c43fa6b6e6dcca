"""A simulated Vestel EVC04 wallbox: the EMS register map and a small car model.

Served over Modbus TCP or RTU by the pymodbus glue in wallbox_modbus.py, laid out from the same
register map the driver uses (appliance/chargers/vestel_ems/).

Quirks of the real box that the model reproduces: the alive register (6000) is checked and
cleared every failsafe_timeout/2 s (never more often than every 3 s); a missed heartbeat drops
the box to the failsafe current (2000) and it stays there until 5004 is written again; after
0 A was written and the car unplugged, 5004 reads back 6.

Faults for tests: registers missing (ILLEGAL ADDRESS), writes refused with an exception code,
forced (implausible) words, frozen answers; and a clock of the test's own.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable

from appliance.chargers.vestel_ems import registers as vestel
from appliance.chargers.vestel_ems.registers import REGISTER_MAP, REGISTERS

from .wallbox_modbus import ModbusServing, SimRequest  # noqa: F401  (SimRequest: part of this module's interface)

CABLE_MAX_A = 32  # the simulated cable is a 32 A Type 2 cable


class SimulatedWallbox(ModbusServing):
    """A Vestel EVC04 on Modbus TCP or RTU, with a car that can be plugged in."""

    def __init__(
        self,
        *,
        unit_id: int = 255,
        failsafe_timeout_default_s: int = 20,
        max_current_a: int = 32,
        phases: int = 3,
        voltage_v: float = 230.0,
        energy_time_scale: float = 1.0,
        refuse_gaps: bool = True,
        clock: Callable[[], float] = time.monotonic,
        alive_check_min_s: float = 3.0,
        firmware: str = "v3.187.0-sim",
        phase_switch_s: float = 5.0,
    ):
        self.unit_id = unit_id
        self.max_current_a = max_current_a
        self.phases = phases
        self.voltage_v = voltage_v
        self.energy_time_scale = energy_time_scale
        self.refuse_gaps = refuse_gaps
        # Tests step a clock of their own; the box's watchdog, meter and records follow it.
        self._clock = clock
        # The real box checks the alive register no more often than every 3 s; tests may shorten it.
        self.alive_check_min_s = alive_check_min_s
        self.firmware = firmware
        # How long a car takes to charge again after its phases were switched.
        self.phase_switch_s = phase_switch_s
        self._lock = threading.RLock()
        self.request_seen = threading.Condition(self._lock)  # notified for every request recorded
        now = clock()
        self._started_mono = now
        self._started_wall = time.time()
        self._last_tick = now

        # Holding registers as the box keeps them.
        self._setpoint_a = max_current_a
        self._failsafe_current_a = max_current_a
        self._failsafe_timeout_s = failsafe_timeout_default_s
        self._alive = 0
        self._next_alive_check = now + self._alive_check_interval_s()
        self._in_failsafe = False

        # Car and meter.
        self._car_max_a: int | None = None
        self._current_a = 0.0
        self._meter_wh = 1_234_500.0
        self._session_wh = 0.0
        self._session_start_s: float | None = None
        self._session_end_hhmmss = 0

        # 405: 1 = 3 phases (the box's default, back after every new connection), 0 = 1 phase.
        self._phase_setting = 1
        self._resume_at: float | None = None  # the car charges again after a phase switch
        self.phase_switches = 0

        self._init_records()
        if tuple(int(part) for part in re.findall(r"\d+", firmware)[:2]) < (3, 187):
            self.missing_registers.add(REGISTERS["phase_switch"].address)  # older firmware has no 405
        self._init_serving()

    def _init_records(self) -> None:
        self.alive_writes = 0
        self.violations: list[str] = []
        # Records for tests; the oldest half is dropped beyond this so a long demo stays small.
        self.max_records = 50_000
        self.requests: list[SimRequest] = []
        self.writes: list[tuple[int, int]] = []  # (address, value) in the order the box got them
        # Addresses this box answers ILLEGAL ADDRESS for, like a firmware that lacks them.
        self.missing_registers: set[int] = set()
        # Faults: writes to these addresses are answered with this Modbus exception code (e.g.
        # {5004: 3}: ILLEGAL VALUE to every setpoint while 6000 and 2000 are still accepted) ...
        self.refused_writes: dict[int, int] = {}
        # ... and these words replace what the box would answer (implausible values, e.g.
        # {1020: 0xFFFF, 1021: 0xFFFF} for a power of 4 GW).
        self.forced_words: dict[int, int] = {}
        self.connections = 0  # Modbus connections opened to the box (TCP) since creation
        self._frozen_words: dict[int, int] | None = None

    # --- what the box holds and what the car does -------------------------------------------------

    @property
    def setpoint_a(self) -> int:
        return self._setpoint_a

    @property
    def current_a(self) -> float:
        with self._lock:
            self.tick()
            return self._current_a

    @property
    def active_phases(self) -> int:
        """The phases the car charges on: 405 switches a 3-phase box to one."""
        return 1 if self.phases == 3 and self._phase_setting == 0 else self.phases

    @property
    def power_w(self) -> int:
        return round(self.current_a * self.voltage_v * self.active_phases)

    @property
    def energy_wh(self) -> float:
        """Energy of the current session."""
        with self._lock:
            self.tick()
            return self._session_wh

    @property
    def meter_wh(self) -> float:
        with self._lock:
            self.tick()
            return self._meter_wh

    @property
    def in_failsafe(self) -> bool:
        with self._lock:
            self.tick()
            return self._in_failsafe

    @property
    def granted_a(self) -> int:
        """What the box grants the car now: its setpoint, or its failsafe current after a missed heartbeat."""
        with self._lock:
            self.tick()
            return self._effective_setpoint_a()

    @property
    def failsafe_current_a(self) -> int:
        return self._failsafe_current_a

    @property
    def failsafe_timeout_s(self) -> int:
        return self._failsafe_timeout_s

    @property
    def car_connected(self) -> bool:
        return self._car_max_a is not None

    def plug_in(self, car_max_a: int = 32) -> None:
        with self._lock:
            self.tick()
            self._car_max_a = car_max_a
            self._session_wh = 0.0
            self._session_start_s = self._clock()
            self._session_end_hhmmss = 0
            self._update_current()

    def unplug(self) -> None:
        with self._lock:
            self.tick()
            self._car_max_a = None
            self._session_end_hhmmss = self._hhmmss(self._clock())
            if self._setpoint_a == 0:
                # Seen on real boxes: after 0 was written and the car left, 5004 reads back 6.
                self._setpoint_a = 6
            self._update_current()

    def freeze_answers(self) -> None:
        """Answer every read with the values of this moment until a new connection is opened.

        Real boxes have been seen doing this on Modbus TCP; the box's clock (294) stops with them.
        """
        with self._lock:
            self._frozen_words = self.register_words()

    def _alive_check_interval_s(self) -> float:
        return max(self._failsafe_timeout_s / 2.0, self.alive_check_min_s)

    def _effective_setpoint_a(self) -> int:
        return self._failsafe_current_a if self._in_failsafe else self._setpoint_a

    def _update_current(self) -> None:
        if self._car_max_a is None:
            self._current_a = 0.0
            return
        if self._resume_at is not None:
            self._current_a = 0.0  # the car restarts on its new phases after a while
            return
        granted = min(self._effective_setpoint_a(), self._car_max_a, self.max_current_a, CABLE_MAX_A)
        # Below 6 A no car charges (IEC 61851): 0 pauses, 1-5 A would too.
        self._current_a = float(granted) if granted >= vestel.MIN_CHARGING_CURRENT_A else 0.0

    def tick(self, now: float | None = None) -> None:
        """Advance the model to `now` (the box's clock: time.monotonic() unless a test gave one)."""
        with self._lock:
            now = self._clock() if now is None else now
            # The watchdog runs at its own rhythm, check by check, so a late tick is still exact.
            while self._failsafe_timeout_s > 0 and now >= self._next_alive_check:
                self._integrate(self._next_alive_check)
                if self._alive:
                    self._alive = 0
                elif not self._in_failsafe:
                    self._in_failsafe = True
                    self._update_current()
                self._next_alive_check += self._alive_check_interval_s()
            if self._resume_at is not None and now >= self._resume_at:
                self._integrate(self._resume_at)
                self._resume_at = None
                self._update_current()
            self._integrate(now)

    def _integrate(self, now: float) -> None:
        dt_s = now - self._last_tick
        if dt_s <= 0:
            return
        self._last_tick = now
        energy_wh = self._current_a * self.voltage_v * self.active_phases * dt_s * self.energy_time_scale / 3600.0
        self._meter_wh += energy_wh
        self._session_wh += energy_wh

    # --- registers ---------------------------------------------------------------------------------

    def _hhmmss(self, now: float) -> int:
        t = dt.datetime.fromtimestamp(self._started_wall + (now - self._started_mono))
        return t.hour * 10000 + t.minute * 100 + t.second

    def _values(self) -> dict[str, int | str]:
        now = self._clock()
        wall = dt.datetime.fromtimestamp(self._started_wall + (now - self._started_mono))
        plugged = self._car_max_a is not None
        current_ma = round(self._current_a * 1000)
        phase_ma = [current_ma if i < self.active_phases else 0 for i in range(3)]
        phase_w = [round(ma / 1000 * self.voltage_v) for ma in phase_ma]
        if not plugged:
            state = 0  # Available
        elif self._current_a > 0:
            state = 2  # Charging
        else:
            state = 3  # SuspendedEVSE: the box withholds current
        return {
            "serial": "SIM2024000001",
            "chargepoint_id": "SIMULATED-EVC04",
            "brand": "Vestel",
            "model": "EVC04-AC22" if self.phases == 3 else "EVC04-AC7",
            "firmware": self.firmware,
            "box_date": (wall.year % 100) * 10000 + wall.month * 100 + wall.day,
            "box_time": wall.hour * 10000 + wall.minute * 100 + wall.second,
            "max_power_w": round(self.max_current_a * self.voltage_v * self.phases),
            "phases": 1 if self.phases == 3 else 0,
            "chargepoint_state": state,
            "charging_state": 1 if self._current_a > 0 else 0,
            "equipment_state": 1,  # Running
            "cable_state": 3 if plugged else 0,
            "fault_code": 0,
            "current_l1_ma": phase_ma[0],
            "current_l2_ma": phase_ma[1],
            "current_l3_ma": phase_ma[2],
            "voltage_l1_v": round(self.voltage_v),
            "voltage_l2_v": round(self.voltage_v) if self.phases == 3 else 0,
            "voltage_l3_v": round(self.voltage_v) if self.phases == 3 else 0,
            "power_w": sum(phase_w),
            "power_l1_w": phase_w[0],
            "power_l2_w": phase_w[1],
            "power_l3_w": phase_w[2],
            "meter_0_1kwh": int(self._meter_wh // 100),
            "session_max_a": self.max_current_a,
            "evse_min_a": vestel.MIN_CHARGING_CURRENT_A,
            "evse_max_a": self.max_current_a,
            "cable_max_a": CABLE_MAX_A if plugged else 0,
            "session_energy_wh": int(self._session_wh),
            "session_start_hhmmss": self._hhmmss(self._session_start_s) if self._session_start_s else 0,
            "session_duration_s": int(now - self._session_start_s) if plugged and self._session_start_s else 0,
            "session_end_hhmmss": self._session_end_hhmmss,
            "failsafe_current_a": self._failsafe_current_a,
            "failsafe_timeout_s": self._failsafe_timeout_s,
            "setpoint_a": self._setpoint_a,
            "phase_switch": self._phase_setting,
            "alive": self._alive,
        }

    def register_words(self) -> dict[int, int]:
        """Every listed address and the word it holds now."""
        with self._lock:
            self.tick()
            values = self._values()
        words: dict[int, int] = {}
        for reg in REGISTER_MAP:
            for offset, word in enumerate(vestel.encode(reg, values[reg.name])):
                words[reg.address + offset] = word
        return words

    def _apply_write(self, address: int, value: int) -> None:
        """A function 6 write the box accepted."""
        now_text = dt.datetime.now().strftime("%H:%M:%S")
        self.writes.append((address, value))
        if len(self.writes) > self.max_records:
            del self.writes[: self.max_records // 2]
        if address == REGISTERS["alive"].address:
            self.alive_writes += 1
            self._alive = 1 if value else 0
        elif address == REGISTERS["setpoint_a"].address:
            if 1 <= value < vestel.MIN_CHARGING_CURRENT_A:
                self.violations.append(f"{now_text}: 5004 (setpoint) written with {value} A; only 0 or 6 A and more are allowed.")
            self._setpoint_a = value
            self._in_failsafe = False  # sticky failsafe ends only here
        elif address == REGISTERS["failsafe_current_a"].address:
            if 1 <= value < vestel.MIN_CHARGING_CURRENT_A:
                self.violations.append(f"{now_text}: 2000 (failsafe current) written with {value} A; only 0 or 6 A and more are allowed.")
            self._failsafe_current_a = value
        elif address == REGISTERS["failsafe_timeout_s"].address:
            self._failsafe_timeout_s = value
            self._next_alive_check = self._clock() + self._alive_check_interval_s()
        elif address == REGISTERS["phase_switch"].address:
            self._switch_phases(1 if value else 0, now_text)
        self._update_current()

    def _switch_phases(self, setting: int, now_text: str) -> None:
        if setting == self._phase_setting or self.phases != 3:
            return
        if self._current_a > 0:
            self.violations.append(f"{now_text}: 405 (phases) switched while the car drew {self._current_a:g} A.")
        self._phase_setting = setting
        self.phase_switches += 1
        self._resume_at = self._clock() + self.phase_switch_s

    def connection_opened(self) -> None:
        """A new Modbus TCP connection: frozen answers end, and 405 is back at its default (3 phases)."""
        with self._lock:
            self.tick()
            self.connections += 1
            self._frozen_words = None
            self._phase_setting = 1


    def __enter__(self) -> SimulatedWallbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
