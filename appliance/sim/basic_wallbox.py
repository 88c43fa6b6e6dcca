"""A simulated basic Vestel EVC04 (no network module), built from the published measurements.

The box is the Modbus RTU *master* on its Power Optimizer bus: it polls the PRO380 meter (unit 1,
function 3, 0x500C, 6 registers) every ~1.006 s on one serial port and answers any byte on its
LOG port with a burst of text lines. Its grant law (andicoder/evc04 docs/SPECS.md, section 6):

- evaluation every 5-10 s (random); reported below the DIP limit: grant = min(draw + headroom,
  limit); a session starts with the apparent headroom when that is at least 6 A;
- limit .. limit + 0.5 A: hold, but only while the car draws (an idle car loses its offer);
- above: shed floor(excess) A; at the cut threshold (somewhere in 2-4 A over) cut the session;
  a shed of 2 A or more landing at or below 6 A drops the session; after a cut no new session
  for 30 s;
- the car needs 10-30 s of standing offer before it draws (contactor lag), then ramps;
- no valid meter answer for four polls in a row: fault (state F, error 22, no charging).

LOG bursts begin mid-line, lines are written in random pieces, unknown tokens are mixed in.
Randomness is seeded; `time_scale` runs the box faster than real time for tests.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.chargers.vestel_meter import pro380

POLL_PERIOD_S = 1.006
EVALUATION_S = (5.0, 10.0)
CUT_THRESHOLD_A = (2.5, 4.0)     # measured "roughly 2-4 A over"; +2 A sheds without a cut
CONTACTOR_LAG_S = (10.0, 30.0)
LOCKOUT_S = 30.0
FAULT_AFTER_POLLS = 4            # the box faults when its meter misses this many polls in a row
MIN_OFFER_A = 6
RAMP_UP_A_PER_S, RAMP_DOWN_A_PER_S = 2.0, 6.0
VOLTAGE_MV = 231_500
UNKNOWN_TOKENS = ("wc", "lb active", "generic", "TEMP lb current: 10", "current_without_dlm_without_unplugged16", "PE OK1")


class ScaledClock:
    """Simulated seconds that run `scale` times faster than the wall clock."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._t0) * self.scale


@dataclass(frozen=True)
class BoxSample:
    at_s: float
    reported_a: float | None   # what the meter answered (None: silent)
    grant_a: int
    draw_a: float
    session: bool
    fault: bool


@dataclass(frozen=True)
class BoxEvent:
    at_s: float
    kind: str                  # "start", "grant", "cut", "fault", "clear"
    grant_a: int
    why: str


class BasicBoxModel:
    """The box's decisions and the car, stepped with simulated time (no I/O)."""

    def __init__(self, limit_a: int = 16, seed: int = 1, car_max_a: float = 16.0):
        self.limit_a = limit_a
        self.rng = random.Random(seed)
        self.cut_threshold_a = self.rng.uniform(*CUT_THRESHOLD_A)
        self.car_max_a = car_max_a
        self.plugged = True
        self.session = False
        self.grant_a = 0
        self.draw_a = 0.0
        self.energy_wh = [0.0, 0.0, 0.0]
        self.fault = False
        self.lockout_until_s = -math.inf
        self.offer_since_s: float | None = None
        self.lag_s = self.rng.uniform(*CONTACTOR_LAG_S)
        self.reported_a: float | None = None
        self.last_answer_at_s: float | None = None
        self.missed_polls = 0
        self.next_evaluation_s: float | None = None
        self.last_step_s: float | None = None
        self.events: list[BoxEvent] = []

    def meter_answer(self, now_s: float, currents_a: tuple[float, float, float] | None) -> None:
        if currents_a is None:
            self.missed_polls += 1
        else:
            self.reported_a = max(currents_a)
            self.last_answer_at_s = now_s
            self.missed_polls = 0

    def step(self, now_s: float) -> None:
        dt = 0.0 if self.last_step_s is None else max(0.0, now_s - self.last_step_s)
        self.last_step_s = now_s
        self._check_meter(now_s)
        self._car(now_s, dt)
        if self.next_evaluation_s is None:
            self.next_evaluation_s = now_s + self.rng.uniform(*EVALUATION_S)
        elif now_s >= self.next_evaluation_s:
            self.next_evaluation_s = now_s + self.rng.uniform(*EVALUATION_S)
            self._evaluate(now_s)

    def _event(self, now_s: float, kind: str, why: str) -> None:
        self.events.append(BoxEvent(now_s, kind, self.grant_a, why))

    def _check_meter(self, now_s: float) -> None:
        # Counted in polls, not seconds: a slow test machine delays the polls, not the verdict.
        silent = self.missed_polls >= FAULT_AFTER_POLLS
        if silent and not self.fault:
            self.fault = True
            self._cut(now_s, "the meter is silent")
            self._event(now_s, "fault", "no meter answer")
        elif not silent and self.fault:
            self.fault = False
            self.lockout_until_s = now_s + LOCKOUT_S
            self._event(now_s, "clear", "meter answers again")

    def _cut(self, now_s: float, why: str) -> None:
        if self.session:
            self.session = False
            self.grant_a = 0
            self.lockout_until_s = now_s + LOCKOUT_S
            self._event(now_s, "cut", why)

    def _car(self, now_s: float, dt: float) -> None:
        offer = self.grant_a if self.session and not self.fault else 0
        if offer < MIN_OFFER_A or not self.plugged:
            self.draw_a, self.offer_since_s = 0.0, None
            return
        if self.offer_since_s is None:
            self.offer_since_s = now_s
            self.lag_s = self.rng.uniform(*CONTACTOR_LAG_S)
        if now_s - self.offer_since_s < self.lag_s:
            return
        target = min(offer, self.car_max_a) * 0.97   # a car draws a little under its offer
        if target > self.draw_a:
            self.draw_a = min(target, self.draw_a + RAMP_UP_A_PER_S * dt)
        else:
            self.draw_a = max(target, self.draw_a - RAMP_DOWN_A_PER_S * dt)
        for phase in range(3):
            self.energy_wh[phase] += VOLTAGE_MV / 1000.0 * self.draw_a * dt / 3600.0

    def _evaluate(self, now_s: float) -> None:
        if self.fault or not self.plugged or self.reported_a is None:
            return
        reported, limit = self.reported_a, self.limit_a
        if not self.session:
            headroom = math.floor(limit - reported)
            if now_s >= self.lockout_until_s and headroom >= MIN_OFFER_A:
                self.session, self.grant_a = True, min(headroom, limit)
                self._event(now_s, "start", f"headroom {limit - reported:.1f} A")
            return
        excess = reported - limit
        if excess < 0:
            grant = min(math.floor(self.draw_a + (limit - reported) + 1e-6), limit)
            self._set_grant(now_s, max(grant, MIN_OFFER_A), f"reported {reported:.1f} A, below the limit")
        elif excess <= 0.5:
            if self.draw_a < 1.0:
                self._cut(now_s, "idle car at the limit")
        elif excess < self.cut_threshold_a:
            shed = math.floor(excess)
            landing = self.grant_a - shed
            if landing < MIN_OFFER_A or (shed >= 2 and landing <= MIN_OFFER_A):
                self._cut(now_s, f"shed {shed} A would land at {landing} A")
            else:
                self._set_grant(now_s, landing, f"reported {excess:.1f} A over: shed {shed} A")
        else:
            self._cut(now_s, f"reported {excess:.1f} A over the limit")

    def _set_grant(self, now_s: float, grant_a: int, why: str) -> None:
        if grant_a != self.grant_a:
            self.grant_a = grant_a
            self._event(now_s, "grant", why)

    def cp_state(self) -> str:
        if self.fault:
            return "F1"
        if not self.plugged:
            return "A1"
        return "C2" if self.session and self.draw_a >= 1.0 else "B1"

    def log_lines(self) -> list[str]:
        draw_ma = int(self.draw_a * 1000) if self.draw_a else 36
        lines = [f"P{n}:\tV: {VOLTAGE_MV + 300 * n}\tA: {draw_ma}\tW: {int(VOLTAGE_MV / 1000 * draw_ma / 1000)}"
                 f"\tWh: {int(self.energy_wh[n - 1])}" for n in (1, 2, 3)]
        offered = self.grant_a if self.session else 0
        lines.append(f"S:{self.cp_state()} Auth:1 D:{int(offered * 16.7)} Cmax:{offered} Ph:3 Relay:7")
        lines.append("Temp: 32 C ")
        if self.fault:
            lines.append("ERROR: 22")
        elif any(e.kind == "fault" for e in self.events):
            lines.append("CLEAR: 22")
        if self.session:
            lines += [f"ev current: {round(self.draw_a)}", f"max_offered_current: {offered}", f"lb current:{offered}"]
        return lines


class BasicBoxPlant:
    """Meter emulation and the box model as one second-by-second plant for `wallbox simulate`.

    The setpoint goes in; out comes the car's current after grant tracking, the box's grant law,
    the contactor lag and the ramp: what a basic box delivers, with no ports and no threads.
    """

    def __init__(self, limit_a: int = 16, seed: int = 1, car_max_a: float = 16.0, min_current_a: int = MIN_OFFER_A):
        from appliance.chargers.vestel_meter.grant import GrantInputs, reported_current_a

        self._inputs, self._report = GrantInputs, reported_current_a
        self.model = BasicBoxModel(limit_a=limit_a, seed=seed, car_max_a=car_max_a)
        self.model.plugged = False
        self.min_current_a = min_current_a

    def step(self, now_s: float, setpoint_a: int, plugged: bool) -> float:
        """One poll (about a second): returns the car's current in A after it."""
        m = self.model
        if plugged != m.plugged:
            m.plugged = plugged
            if not plugged:
                m._cut(now_s, "car unplugged")
        grant = m.grant_a if m.session else None   # what the LOG said at the last burst
        r = self._report(self._inputs(m.limit_a, setpoint_a, grant, m.draw_a), self.min_current_a)
        m.meter_answer(now_s, (r, r, r))
        m.step(now_s)
        return m.draw_a


class SimulatedBasicWallbox:
    """The box on two serial ports: RTU master on the meter bus, LOG console on the other."""

    def __init__(self, meter_port: str, log_port: str, *, limit_a: int = 16, seed: int = 1,
                 baudrate: int = 9600, parity: str = "N", stopbits: int = 1, time_scale: float = 1.0,
                 clock: ScaledClock | None = None, car_max_a: float = 16.0):
        self.meter_port, self.log_port = meter_port, log_port
        self.serial_options = {"baudrate": baudrate, "parity": parity, "stopbits": stopbits, "bytesize": 8}
        self.time_scale = time_scale
        self.clock = clock or ScaledClock(time_scale)
        self.model = BasicBoxModel(limit_a=limit_a, seed=seed, car_max_a=car_max_a)
        self._log_rng = random.Random(seed + 1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.samples: list[BoxSample] = []
        self.polls_sent = 0
        self.answers_received = 0
        self.bursts_sent = 0
        self.log_muted = False      # tests: the LOG wire is cut

    # --- the car -----------------------------------------------------------------------------------

    def plug_in(self) -> None:
        with self._lock:
            self.model.plugged = True

    def unplug(self) -> None:
        with self._lock:
            self.model.plugged = False
            self.model._cut(self.clock(), "car unplugged")

    @property
    def events(self) -> list[BoxEvent]:
        with self._lock:
            return list(self.model.events)

    # --- threads --------------------------------------------------------------------------------

    def start(self) -> None:
        import serial

        meter = serial.Serial(self.meter_port, timeout=0, **self.serial_options)
        log = serial.Serial(self.log_port, 9600, timeout=0.02)
        for target, port, name in ((self._poll_loop, meter, "basic-box-poll"), (self._log_loop, log, "basic-box-log")):
            thread = threading.Thread(target=target, args=(port,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._threads = []

    def __enter__(self) -> SimulatedBasicWallbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _real_s(self, sim_s: float) -> float:
        return sim_s / self.time_scale

    def _poll_loop(self, port) -> None:
        try:
            next_poll = time.monotonic()
            while not self._stop.is_set():
                port.reset_input_buffer()
                port.write(pro380.POLL_FRAME)
                self.polls_sent += 1
                currents = self._read_answer(port, max(self._real_s(0.4), 0.15))
                now = self.clock()
                with self._lock:
                    self.model.meter_answer(now, currents)
                    self.model.step(now)
                    m = self.model
                    self.samples.append(BoxSample(now, None if currents is None else max(currents), m.grant_a,
                                                  m.draw_a, m.session, m.fault))
                next_poll = max(next_poll + self._real_s(POLL_PERIOD_S), time.monotonic())
                self._stop.wait(max(0.0, next_poll - time.monotonic()))
        finally:
            port.close()

    def _read_answer(self, port, timeout_s: float) -> tuple[float, float, float] | None:
        frame = b""
        ends_at = time.monotonic() + timeout_s
        while len(frame) < 17 and time.monotonic() < ends_at:
            frame += port.read(17 - len(frame))
            if len(frame) < 17:
                time.sleep(0.001)
        currents = pro380.parse_currents_answer(frame)
        if currents is not None:
            self.answers_received += 1
        return currents

    def _log_loop(self, port) -> None:
        try:
            while not self._stop.is_set():
                if port.read(64) and not self.log_muted:
                    with self._lock:
                        lines = self.model.log_lines()
                    self._write_burst(port, lines)
        finally:
            port.close()

    def _write_burst(self, port, lines: list[str]) -> None:
        """One burst: rotated, begun mid-line, unknown tokens mixed in, written in random pieces."""
        rng = self._log_rng
        lines = list(lines)
        for token in rng.sample(UNKNOWN_TOKENS, 2):
            lines.insert(rng.randrange(len(lines) + 1), token)
        start = rng.randrange(len(lines))
        lines = lines[start:] + lines[:start]
        text = "\r\n".join(lines) + "\r\n"
        text = text[rng.randrange(0, 8):]              # the burst begins mid-line
        if rng.random() < 0.3:
            text = text[: len(text) - rng.randrange(1, 12)]   # and sometimes ends mid-line
        cuts = sorted(rng.sample(range(1, len(text)), min(6, len(text) - 1)))
        for piece in (text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])):
            port.write(piece.encode("ascii"))
            time.sleep(0.0005)
        self.bursts_sent += 1


@contextlib.contextmanager
def socat_pair(directory: str | Path, name: str):
    """Two connected pseudo-terminals: yields (box side, appliance side). Needs socat."""
    socat = shutil.which("socat")
    if socat is None:
        raise RuntimeError("socat is not installed: the simulated basic box needs it (apt-get install socat).")
    box, app = Path(directory) / f"{name}-box", Path(directory) / f"{name}-app"
    proc = subprocess.Popen([socat, f"pty,raw,echo=0,link={box}", f"pty,raw,echo=0,link={app}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not (box.exists() and app.exists()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"socat did not create the pseudo-terminals {box} and {app}.")
            time.sleep(0.01)
        yield os.fspath(box), os.fspath(app)
    finally:
        proc.terminate()
        proc.wait(timeout=3)


@contextlib.contextmanager
def basic_box_on_ptys(directory: str | Path, **box_options):
    """The simulated basic box on two pseudo-terminal pairs, running: yields (box, meter_port, log_port),
    the ports the appliance opens (`wallbox demo`: MeterCharger(meter_port, parity="N", log_port=log_port))."""
    with socat_pair(directory, "meter") as meter, socat_pair(directory, "log") as log:
        box = SimulatedBasicWallbox(meter[0], log[0], **box_options)
        with box:
            yield box, meter[1], log[1]
