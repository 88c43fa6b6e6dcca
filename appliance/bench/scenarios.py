"""The measurements of `wallbox bench`: each runs the real service against the simulators."""

from __future__ import annotations

import ftplib
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from ..sim.inverter import powerflow_document
from . import procfs
from .modbus_line import line_share
from .rig import Rig

#: Python on the Pi Zero W's single 1 GHz ARM1176 runs about 20-30 times slower than on one core
#: of the CI-class x86 machine (pyperformance-style workloads); the bench uses the middle, 25.
PI_ZERO_FACTOR = 25.0


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float
    pi_zero: float | None     # the estimate for a Pi Zero W; None where it does not change
    higher_is_better: bool = False
    note: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def steady_state(seconds: float, progress) -> list[Figure]:
    """Push every 3 s, EMS over TCP, screen to PNG: CPU, Modbus, line share, memory, card writes."""
    rig = Rig(transport="tcp", push_interval_s=3.0)
    try:
        rig.service.start()
        start_s = rig.wait_for_first_setpoint()
        start_cpu_s = rig.first_setpoint_cpu_s
        rig.inverter.start()
        progress(f"steady state: warming up 10 s, then measuring {seconds:g} s")
        time.sleep(10)
        pid = rig.service.pid
        threads0 = procfs.cpu_per_thread(pid)
        cpu0, io0, t0 = procfs.cpu_s(pid), procfs.written_bytes(pid), time.monotonic()
        pushes0 = rig.inverter.pushes_sent
        time.sleep(seconds)
        cpu1, io1, t1 = procfs.cpu_s(pid), procfs.written_bytes(pid), time.monotonic()
        threads1 = procfs.cpu_per_thread(pid)
        pushes = max(1, rig.inverter.pushes_sent - pushes0)
        requests = [r for r in list(rig.wallbox.requests) if t0 <= r.at_s < t1]
        rss, memory_note = procfs.rss_mb(pid), procfs.rss_split(pid)
        progress("idle: pushes stopped, counting wakeups for 10 s")
        rig.inverter.pause_pushing()
        time.sleep(3)
        w0, tw0 = procfs.wakeups(pid), time.monotonic()
        time.sleep(10)
        wakeups, per_thread = procfs.wakeups_per_s(w0, procfs.wakeups(pid), time.monotonic() - tw0)
    finally:
        rig.close()
    window = t1 - t0
    cpu_pct = 100 * (cpu1 - cpu0) / window
    tx = [(r.function_code, max(1, r.count)) for r in requests]
    groups = Counter((r.function_code, r.address, max(1, r.count)) for r in requests)
    progress("Modbus requests by register group (function code @ first register x count): " + ", ".join(
        f"fc{fc} @{address} x{count} {n / window:.2f}/s" for (fc, address, count), n in groups.most_common()))
    progress("steady CPU per thread, % of a core: " + ", ".join(
        f"{k} {100 * (v - threads0.get(k, 0.0)) / window:.3f}" for k, v in
        sorted(threads1.items(), key=lambda kv: threads0.get(kv[0], 0.0) - kv[1])))
    progress("idle wakeups per thread: " + ", ".join(
        f"{k} {v:.1f}/s" for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1]) if v > 0))
    busiest = ", ".join(f"{k.split('/')[0]} {v:.1f}" for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1])[:3])
    return [
        Figure("steady CPU, push every 3 s, EMS over TCP, screen on", cpu_pct, "% of a core", 0.15,
               cpu_pct * PI_ZERO_FACTOR),
        Figure("wakeups a second, all threads, idle, wallbox connected", wakeups, "/s", 4.0, wakeups,
               note=f"busiest: {busiest}"),
        Figure("Modbus transactions a second, steady state (EMS)", len(tx) / window, "/s", 1.5, len(tx) / window),
        Figure("share of a 9600 8E1 line, 20 ms reply time", 100 * line_share(tx, window, 0.020), "%", 10.0,
               100 * line_share(tx, window, 0.020)),
        # The Pi estimate scales the child's CPU time: on one core, what a loaded CI machine adds
        # to the wall-clock time (waiting for a CPU) says nothing about the Pi.
        Figure("process start -> first setpoint", 1000 * start_s, "ms", 120.0, 1000 * start_cpu_s * PI_ZERO_FACTOR,
               note=f"{1000 * start_cpu_s:.0f} ms of CPU by then (the Pi estimate scales this)"),
        Figure("resident memory, run, screen on, no web page", rss, "MB", 32.0, rss, note=memory_note),
        Figure("SD-card bytes written per push", (io1 - io0) / pushes, "B", 0.0, (io1 - io0) / pushes),
    ]


def _push_payload(pv_w: float) -> bytes:
    doc = powerflow_document(pv_w=pv_w, grid_w=400.0 - pv_w, load_w=-400.0, timestamp=datetime.now().astimezone())
    return json.dumps(doc).encode()


def _staircase(rig: Rig, ftp: ftplib.FTP, latencies: list[float], wanted: int, reply_s: float) -> None:
    """PV falls one amp's worth a push, from 16 A of PV to none: every push lowers the setpoint
    at once (raises are rate-limited by design, so they are no measure of reaction)."""
    watts_per_amp = 690.0
    for step in range(16, -1, -1):
        if len(latencies) >= wanted:
            return
        pv_w = step * watts_per_amp + 10
        want_a = 15 + step
        conn = ftp.transfercmd(f"STOR push{step}.json")
        conn.sendall(_push_payload(pv_w))
        conn.close()
        t0 = time.monotonic()  # the upload is complete: from here on it is the appliance's time
        ftp.voidresp()
        hit = rig.wait_for_setpoint(want_a, t0, timeout_s=5.0)
        if hit is not None and step < 16:  # the first push of a staircase raises from 15 A: not a reaction
            latencies.append(1000 * (hit - t0))
        time.sleep(0.05 + 4 * reply_s)  # let the link settle (status reads) before the next push


def reaction(transport: str, reply_s: float, count: int, progress) -> list[float]:
    """Upload -> setpoint write, in ms, over fresh rigs until `count` pushes were measured."""
    latencies: list[float] = []
    progress(f"reaction over {transport.upper()}: {count} pushes")
    while len(latencies) < count:
        rig = Rig(transport=transport, reply_s=reply_s, ramp_s=0.0, push_interval_s=3600)
        before = len(latencies)
        try:
            rig.service.start()
            rig.wait_for_first_setpoint()
            rig.wait_for_ftp()
            ftp = ftplib.FTP(timeout=5)
            ftp.connect("127.0.0.1", rig.ftp_port)
            ftp.login("fronius", "bench-push")
            _staircase(rig, ftp, latencies, count, reply_s)
            ftp.close()
        finally:
            rig.close()
        if len(latencies) < count and len(latencies) - before < 8:  # the last rig may need only a few
            raise RuntimeError(f"only {len(latencies) - before} of 16 falls reached the wallbox as a setpoint")
    return latencies


def reactions(count: int, progress) -> list[Figure]:
    tcp = reaction("tcp", 0.0, count, progress)
    rtu = reaction("rtu", 0.025, count, progress)
    # On the Pi the line and the box's reply take as long as here; the rest is Python, 25x slower.
    line_ms = 25 + 21 * 1.146 + 7 * 1.146
    rtu_p99 = p99(rtu)
    return [
        Figure("upload -> setpoint write, RTU with 25 ms replies, p99", rtu_p99, "ms", 60.0,
               line_ms + max(0.0, rtu_p99 - 25) * PI_ZERO_FACTOR, note=f"median {statistics.median(rtu):.1f} ms"),
        Figure("upload -> setpoint write, TCP, p99", p99(tcp), "ms", 3.0, p99(tcp) * PI_ZERO_FACTOR,
               note=f"median {statistics.median(tcp):.2f} ms"),
    ]
