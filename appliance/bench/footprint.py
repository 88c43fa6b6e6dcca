"""The bench's figures beyond the EMS steady state: the basic box's meter emulation, memory with
the web page and MQTT on, and the bytes the LCD gets per update."""

from __future__ import annotations

import shutil
import time
import urllib.request

from . import procfs
from .lcd import FULL_FRAME_BYTES, lcd_bytes_per_update
from .rig import Mosquitto, Rig, free_port
from .scenarios import PI_ZERO_FACTOR, Figure, p99

#: On the Pi the answer's 17 bytes at 9600 baud 8E1 take 19.5 ms on the wire whatever the CPU;
#: the pty pair here has no wire time, so what is measured is the appliance's turnaround alone.
ANSWER_WIRE_MS = 17 * 11 / 9600 * 1000


def _top_threads(per_thread: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k.split('/')[0]} {v:.1f}" for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1])[:n])


def meter_emulation(seconds: float, progress) -> list[Figure]:
    """kind = "meter": the simulated basic box polls the appliance's meter (4x the real rate) while
    the inverter pushes every 0.5 s; then, pushes stopped and the box polling once a second as the
    real one does, the idle wakeups and memory."""
    if shutil.which("socat") is None:
        return [Figure("meter emulation: poll -> answer while the control loop is busy, p99", float("inf"), "ms",
                       20.0, None, note="not measured: socat missing (apt-get install socat)")]
    rig = Rig(transport="meter", push_interval_s=0.5)
    try:
        rig.service.start()
        rig.basic.start()
        deadline = time.monotonic() + 30
        while not rig.basic.answer_ms and time.monotonic() < deadline:
            time.sleep(0.05)  # the service is up and answering: now the pushes may start
        rig.inverter.start()
        progress(f"meter emulation (basic box): pushes every 0.5 s, measuring {seconds:g} s")
        time.sleep(2)
        first = len(rig.basic.answer_ms)
        time.sleep(seconds)
        answers = rig.basic.answer_ms[first:]
        polls = rig.basic.polls_sent
        rig.inverter.pause_pushing()
        rig.basic.time_scale = 1.0  # idle: the box polls at its real rate again (once a second)
        time.sleep(3)
        pid = rig.service.pid
        w0, t0 = procfs.wakeups(pid), time.monotonic()
        time.sleep(8)
        wakeups, per_thread = procfs.wakeups_per_s(w0, procfs.wakeups(pid), time.monotonic() - t0)
        rss, memory_note = procfs.rss_mb(pid), procfs.rss_split(pid)
    finally:
        rig.close()
    if not answers:
        raise RuntimeError(f"the service answered none of {polls} meter polls; see {rig.service.log_path}")
    progress("idle wakeups per thread, basic box: " + ", ".join(
        f"{k} {v:.1f}/s" for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1]) if v > 0))
    answer_p99 = p99(answers)
    return [
        Figure("meter emulation: poll -> answer while the control loop is busy, p99", answer_p99, "ms", 20.0,
               ANSWER_WIRE_MS + answer_p99 * PI_ZERO_FACTOR,
               note=f"{len(answers)} polls, median {sorted(answers)[len(answers) // 2]:.1f} ms; "
                    f"Pi: + {ANSWER_WIRE_MS:.1f} ms on the wire"),
        Figure("wakeups a second, all threads, idle, basic box (meter)", wakeups, "/s", 4.0, wakeups,
               note=f"busiest: {_top_threads(per_thread)}"),
        Figure("resident memory, run, basic box (meter), no web page", rss, "MB", 32.0, rss, note=memory_note),
    ]


def _fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:
        response.read()


def memory_with_web_and_mqtt(progress) -> list[Figure]:
    name = "resident memory with web page and MQTT on"
    if shutil.which("mosquitto") is None:
        return [Figure(name, float("inf"), "MB", 40.0, None, note="not measured: mosquitto missing "
                                                                  "(apt-get install mosquitto)")]
    progress("memory with the web page and MQTT on: 10 s of pushes, the page fetched")
    rig = Rig(transport="tcp", push_interval_s=3.0)  # the rig's folder holds the broker's settings
    broker = Mosquitto(rig.workdir)
    web_port = free_port()
    rig.service.config.write_text(rig.service.config.read_text().replace("[web]\nenabled = false", (
        f'[web]\nenabled = true\nhost = "127.0.0.1"\nport = {web_port}\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nclient_id = "wallbox-bench"')))
    try:
        rig.service.start()
        rig.wait_for_first_setpoint()
        rig.inverter.start()
        time.sleep(2)
        try:
            for path in ("/", "/api/state", "/screen.png", "/api/history"):
                _fetch(f"http://127.0.0.1:{web_port}{path}")
        except OSError as error:
            return [Figure(name, float("inf"), "MB", 40.0, None, note=f"not measured: `wallbox run` does not "
                           f"serve the web page with [web] enabled ({error}); the runtime must start it")]
        time.sleep(8)
        rss, memory_note = procfs.rss_mb(rig.service.pid), procfs.rss_split(rig.service.pid)
        threads = ", ".join(sorted({k.split("/")[0] for k in procfs.wakeups(rig.service.pid)}))
    finally:
        rig.close()
        broker.stop()
    return [Figure(name, rss, "MB", 40.0, rss, note=f"{memory_note}; threads: {threads}")]


def lcd_figure(progress) -> list[Figure]:
    progress("LCD: 20 minutes of a cloudy day through render and the st7735 backend")
    per_update, updates, seconds = lcd_bytes_per_update(1200)
    spi_ms = per_update * 8 / 4_000_000 * 1000
    return [Figure("bytes sent to the LCD per typical update (only what changed)", per_update, "B", 10240.0,
                   per_update, note=f"{updates} updates in {seconds} s; {spi_ms:.1f} ms at 4 MHz SPI "
                                    f"(a full frame: {FULL_FRAME_BYTES} B, 82 ms)")]
