"""The bench's rig: the simulated devices in this process, the real service in a child process."""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..sim.basic_wallbox import SimulatedBasicWallbox, socat_pair
from ..sim.inverter import SimulatedInverter
from ..sim.wallbox import SimulatedWallbox
from . import procfs
from .modbus_line import char_s

SETPOINT_REGISTER = 5004


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int, timeout_s: float) -> bool:
    """Whether something on loopback `port` accepts a connection within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def settings_text(*, wallbox: str, ftp_port: int, state_dir: Path, png_path: Path, ramp_s: float,
                  extra: str = "[web]\nenabled = false") -> str:
    return f"""
[grid]
allowance_w = 11000
phases = 3
voltage_v = 230

[wallbox]
{wallbox}

[fronius]
ftp_host = "127.0.0.1"
ftp_port = {ftp_port}
ftp_user = "fronius"
ftp_password = "bench-push"

[control]
mode = "fast"
ramp_up_interval_s = {ramp_s}

[display]
backend = "png"
png_path = "{png_path}"

[button]
pin = 0

[state]
dir = "{state_dir}"
control_socket = "{state_dir}/control.sock"

{extra}
"""


# Python does not name its threads for the kernel, so /proc shows every thread as "python". The
# bench's child names each thread after its threading name (by writing /proc/self/task/TID/comm,
# no ctypes) so that wakeups can be told apart; it then runs the service as `wallbox run` does.
_NAMED_THREADS = """
import runpy, sys, threading
_inner = threading.Thread._bootstrap_inner
def _named(self):
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(self.name[:15])
    except OSError:
        pass
    _inner(self)
threading.Thread._bootstrap_inner = _named
sys.argv[0] = "wallbox"
runpy.run_module("appliance.cli", run_name="__main__", alter_sys=True)
"""


_bytecode_dir: Path | None = None

#: What the service imports on its way to the first setpoint and after (web page, MQTT, the basic
#: box's meter server): compiled before the first child starts, so that no child is timed compiling.
_SERVICE_MODULES = ("appliance.cli", "appliance.service", "appliance.runtime", "appliance.chargers.vestel_ems",
                    "appliance.chargers.vestel_meter", "pymodbus.client", "pymodbus.server", "serial",
                    "display.screens", "display.backends", "PIL.PngImagePlugin", "appliance.runtime_remote",
                    "appliance.web", "appliance.history", "appliance.loglines", "appliance.mqtt",
                    "paho.mqtt.client", "tomllib", "runpy", "encodings.idna", "encodings.utf_8_sig")


_WARM_UP = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
import PIL.Image
PIL.Image.init()  # the image plugins that saving the screen as PNG loads
"""


def compiled_bytecode() -> Path:
    """A bytecode cache for the children, filled once per bench run.

    The appliance runs from bytecode compiled when the image is built (systemd/wallbox.service);
    a development checkout often has none (PYTHONDONTWRITEBYTECODE), and a child that compiles
    every module at each start would be timed and sized doing work the appliance never does.
    The cache is a temporary folder (PYTHONPYCACHEPREFIX), so nothing is written into the
    checkout; the prefix applies to every module, so the standard library's and the installed
    packages' bytecode is written there too: by importing what the service imports.
    """
    global _bytecode_dir
    if _bytecode_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="wallbox-bench-pyc-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        env = bytecode_env(folder)
        # A module that is missing here is the child's problem to report, not the cache's.
        subprocess.run([sys.executable, "-c", _WARM_UP, *_SERVICE_MODULES], env=env)
        import appliance
        import display

        packages = [str(Path(package.__file__).parent) for package in (appliance, display)]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], stdout=subprocess.DEVNULL, env=env)
        _bytecode_dir = folder
    return _bytecode_dir


def unit_environment(unit: Path | None = None) -> dict[str, str]:
    """The Environment= settings of the appliance's systemd unit (e.g. MALLOC_ARENA_MAX), so that
    the bench runs the service as systemd does; empty where the checkout has no unit."""
    if unit is None:
        import appliance

        unit = Path(appliance.__file__).resolve().parents[1] / "systemd" / "wallbox.service"
    try:
        lines = unit.read_text().splitlines()
    except OSError:
        return {}
    pairs = [line.split("=", 1)[1].strip() for line in lines if line.startswith("Environment=")]
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def bytecode_env(folder: Path) -> dict[str, str]:
    """The environment of a child: the unit's, reading bytecode from `folder` and writing any it
    misses there (the appliance has all its bytecode; the bench's cache may lack a module)."""
    env = {**os.environ, **unit_environment(), "PYTHONPYCACHEPREFIX": str(folder)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class ServiceProcess:
    """`wallbox run --config FILE` as a child process, started and stopped by the bench."""

    def __init__(self, settings: str, workdir: Path, log_dir: Path | None = None) -> None:
        self.config = workdir / "wallbox.toml"
        self.config.write_text(settings)
        # The service logs to stdout (journald on the appliance); kept in RAM here, so that its
        # lines do not count as the service's card writes.
        self.log_path = (log_dir or workdir) / "service.log"
        self.started_at = 0.0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**bytecode_env(compiled_bytecode()), "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _NAMED_THREADS, "run", "--config", str(self.config)],
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, env=env)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SerialDelay:
    """Two socat pty pairs joined by this proxy, which delays each answer like a real RS-485 line.

    The service opens `service_port`, the simulated box serves `box_port`. Requests pass at once;
    an answer is held for the box's reply time plus the time its bytes take at 9600 baud 8E1.
    """

    def __init__(self, workdir: Path, reply_s: float, baudrate: int = 9600) -> None:
        if shutil.which("socat") is None:
            raise RuntimeError("socat is needed for the RTU figures: apt-get install socat")
        self.reply_s = reply_s
        self.char_s = char_s(baudrate)
        self.service_port, self._service_side = str(workdir / "tty-service"), str(workdir / "tty-a")
        self.box_port, self._box_side = str(workdir / "tty-box"), str(workdir / "tty-b")
        self._socats = [self._pair(self.service_port, self._service_side),
                        self._pair(self.box_port, self._box_side)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _pair(a: str, b: str) -> subprocess.Popen:
        proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (os.path.exists(a) and os.path.exists(b)):
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create the pseudo-terminals")
            time.sleep(0.01)
        return proc

    def start(self) -> None:
        self._a = os.open(self._service_side, os.O_RDWR | os.O_NOCTTY)
        self._b = os.open(self._box_side, os.O_RDWR | os.O_NOCTTY)
        self._thread = threading.Thread(target=self._run, name="bench-rs485", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending: list[tuple[float, bytes]] = []
        while not self._stop.is_set():
            timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 0.2
            ready, _, _ = select.select([self._a, self._b], [], [], timeout)
            if self._a in ready:
                os.write(self._b, os.read(self._a, 512))
            if self._b in ready:
                data = os.read(self._b, 512)
                pending.append((time.monotonic() + self.reply_s + len(data) * self.char_s, data))
            while pending and pending[0][0] <= time.monotonic():
                os.write(self._a, pending.pop(0)[1])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (getattr(self, "_a", None), getattr(self, "_b", None)):
            if fd is not None:
                os.close(fd)
        for proc in self._socats:
            proc.terminate()
            proc.wait(timeout=5)


class TimedBasicWallbox(SimulatedBasicWallbox):
    """The simulated basic box, which is the meter bus's master, timing each poll -> answer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answer_ms: list[float] = []

    def _read_answer(self, port, timeout_s: float):
        # Called right after the poll frame was written: the time until the whole answer is in.
        t0 = time.perf_counter()
        currents = super()._read_answer(port, timeout_s)
        if currents is not None:
            self.answer_ms.append(1000 * (time.perf_counter() - t0))
        return currents


class Mosquitto:
    """A Mosquitto broker on a free loopback port, for the figure with MQTT on."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not accepts(self.port, 5.0):
            self.stop()
            raise RuntimeError("mosquitto did not start listening within 5 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


class Rig:
    """A simulated wallbox (EMS over TCP or RTU, or a basic box whose meter the service plays),
    a simulated inverter and the service between them."""

    def __init__(self, *, transport: str = "tcp", reply_s: float = 0.0, ramp_s: float = 30.0,
                 push_interval_s: float = 3.0, extra: str = "[web]\nenabled = false") -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="wallbox-bench-"))
        shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else self.workdir
        self.png_dir = Path(tempfile.mkdtemp(prefix="wallbox-bench-", dir=shm))
        self._exits = contextlib.ExitStack()
        self.wallbox = SimulatedWallbox()
        self.wallbox.plug_in()
        self.line: SerialDelay | None = None
        self.first_setpoint_cpu_s: float | None = None
        self.basic: TimedBasicWallbox | None = None
        if transport == "tcp":
            port = self.wallbox.serve_tcp("127.0.0.1", 0)
            wallbox = f'transport = "tcp"\nhost = "127.0.0.1"\nport = {port}'
        elif transport == "rtu":
            self.line = SerialDelay(self.workdir, reply_s)
            self.wallbox.serve_rtu(self.line.box_port, parity="N")
            self.line.start()
            wallbox = (f'transport = "rtu"\nserial_port = "{self.line.service_port}"\nparity = "N"\n'
                       "baudrate = 9600")
        else:
            wallbox = self._basic_box()
        self.ftp_port = free_port()
        self.pv_w = 5000.0
        self.service = ServiceProcess(settings_text(
            wallbox=wallbox, ftp_port=self.ftp_port, state_dir=self.workdir / "state",
            png_path=self.png_dir / "screen.png", ramp_s=ramp_s, extra=extra), self.workdir, self.png_dir)
        self.inverter = SimulatedInverter(
            host="127.0.0.1", port=self.ftp_port, user="fronius", password="bench-push",
            interval_s=push_interval_s, pv_w=lambda: self.pv_w, house_w=lambda: 400.0,
            car_w=self._car_w)

    def _basic_box(self) -> str:
        """A basic EVC04 on two socat pty pairs (parity N: the ptys refuse E), polling 4x as often
        as the real box so that a short run yields enough polls for a p99."""
        meter_box, meter_app = self._exits.enter_context(socat_pair(self.workdir, "meter"))
        log_box, log_app = self._exits.enter_context(socat_pair(self.workdir, "log"))
        self.basic = TimedBasicWallbox(meter_box, log_box, parity="N", time_scale=4.0)
        self.basic.plug_in()
        return (f'kind = "meter"\nserial_port = "{meter_app}"\nparity = "N"\nbaudrate = 9600\n'
                f'log_port = "{log_app}"\ndip_limit_a = 16')

    def _car_w(self) -> float:
        if self.basic is not None:
            return float(self.basic.model.draw_a) * 690.0
        return float(self.wallbox.power_w)

    def setpoint_writes(self, since_s: float = 0.0) -> list[tuple[float, int]]:
        return [(r.at_s, r.values[0]) for r in list(self.wallbox.requests)
                if r.function_code == 6 and r.address == SETPOINT_REGISTER and r.at_s >= since_s]

    def wait_for_setpoint(self, value: int, since_s: float, timeout_s: float) -> float | None:
        """When the box got the setpoint `value` (its clock), waiting for it without polling: a bench
        loop that looked every 0.5 ms took CPU and the GIL from the very threads it timed."""
        def hit() -> float | None:
            return next((at for at, v in self.setpoint_writes(since_s) if v == value), None)

        with self.wallbox.request_seen:
            self.wallbox.request_seen.wait_for(lambda: hit() is not None, timeout_s)
            return hit()

    def wait_for_ftp(self, timeout_s: float = 10.0) -> None:
        """The service opens its FTP server after the first setpoint: wait until it accepts."""
        if not accepts(self.ftp_port, timeout_s):
            raise RuntimeError(f"the service's FTP server did not open; see {self.service.log_path}")

    def wait_for_first_setpoint(self, timeout_s: float = 30.0) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            writes = self.setpoint_writes(self.service.started_at)
            if writes:
                # CPU time is what a loaded machine does not inflate (read within 5 ms of the write).
                self.first_setpoint_cpu_s = procfs.cpu_s(self.service.pid)
                return writes[0][0] - self.service.started_at
            if self.service.proc is not None and self.service.proc.poll() is not None:
                raise RuntimeError(f"the service stopped; see {self.service.log_path}")
            time.sleep(0.005)
        raise RuntimeError(f"no setpoint reached the simulated wallbox in {timeout_s:g} s; "
                           f"see {self.service.log_path}")

    def close(self) -> None:
        self.inverter.stop()
        self.service.stop()
        if self.basic is not None:
            self.basic.stop()
        self._exits.close()
        self.wallbox.stop()
        if self.line is not None:
            self.line.stop()
        shutil.rmtree(self.png_dir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
