"""The bench's pure parts: line arithmetic, the table, the /proc readers, the LCD byte count.
No figure here is timed; the bench itself (`wallbox bench`) measures."""

from __future__ import annotations

import math
import os
import threading

import pytest

from appliance.bench import modbus_line, procfs
from appliance.bench.lcd import FULL_FRAME_BYTES, lcd_bytes_per_update
from appliance.bench.report import table
from appliance.bench.scenarios import Figure, p99


def test_a_16_register_read_occupies_the_line_as_counted_by_hand():
    # Request: unit, fc, address (2), count (2), CRC (2) = 8 bytes. Answer: unit, fc, byte count,
    # 32 data bytes, CRC (2) = 37 bytes. Two 3.5-character gaps. 52 characters of 11 bits at 9600.
    assert modbus_line.frame_bytes(3, 16, False) == (8, 37)
    by_hand_s = 52 * 11 / 9600 + 0.020
    assert modbus_line.transaction_s(3, 16, 0.020) == pytest.approx(by_hand_s)
    assert by_hand_s == pytest.approx(0.0795833, abs=1e-6)
    # One such read and one single-register write (8 + 8 bytes, 23 characters) in 2 s.
    share = modbus_line.line_share([(3, 16), (6, 1)], 2.0, 0.020)
    assert share == pytest.approx((by_hand_s + 23 * 11 / 9600 + 0.020) / 2.0)


def test_p99_picks_the_value_below_the_top_percent():
    assert p99(list(range(1, 101))) == 99
    assert p99([5.0]) == 5.0


def test_table_marks_misses_and_unmeasured_figures():
    figures = [Figure("quick", 2.0, "ms", 3.0, 50.0, note="median 1 ms"),
               Figure("slow", 120.0, "ms", 60.0, 3000.0),
               Figure("memory with web", math.inf, "MB", 40.0, None, note="not measured: mosquitto missing")]
    lines = table(figures, 25.0).splitlines()
    assert lines[0].startswith("Machine: ") and "x25" in lines[0]
    assert lines[2] == "| figure | value | target | met | Pi Zero W estimate | note |"
    assert lines[4] == "| quick | 2.00 ms | <= 3.00 ms | yes | 50.0 ms | median 1 ms |"
    assert lines[5] == "| slow | 120 ms | <= 60.0 ms | NO | 3000 ms |  |"
    assert lines[6] == "| memory with web | not measured | <= 40.0 MB | NO |  | not measured: mosquitto missing |"
    assert [f.met for f in figures] == [True, False, False]


def test_proc_readers_on_this_process():
    pid = os.getpid()
    cpu = procfs.cpu_s(pid)
    sum(i * i for i in range(200_000))  # some CPU work; the clock ticks are 10 ms coarse
    assert procfs.cpu_s(pid) >= cpu > 0
    assert 5 < procfs.rss_mb(pid) < 4096
    assert procfs.written_bytes(pid) >= 0

    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="bench-probe")
    worker.start()
    try:
        before = procfs.wakeups(pid)
        assert f"{worker.native_id}" in {key.split("/")[1] for key in before}
        assert f"{threading.get_native_id()}" in {key.split("/")[1] for key in before}
    finally:
        release.set()
        worker.join()
    total, per_thread = procfs.wakeups_per_s({"a/1": 10}, {"a/1": 30, "b/2": 5}, 5.0)
    assert per_thread == {"a/1": 4.0, "b/2": 1.0} and total == 5.0


def test_lcd_updates_of_a_charging_minute_send_a_fraction_of_a_frame():
    per_update, updates, seconds = lcd_bytes_per_update(60)
    assert seconds == 60 and 10 <= updates <= 59
    assert 0 < per_update < FULL_FRAME_BYTES / 4


def test_cpu_per_thread_names_this_thread_and_adds_up_to_at_most_the_process():
    pid = os.getpid()
    per_thread = procfs.cpu_per_thread(pid)
    assert f"{threading.get_native_id()}" in {key.split("/")[1] for key in per_thread}
    assert sum(per_thread.values()) <= procfs.cpu_s(pid) + 0.05


def test_the_bench_runs_the_service_with_the_units_environment(tmp_path):
    from appliance.bench.rig import bytecode_env, unit_environment

    unit = tmp_path / "wallbox.service"
    unit.write_text("[Service]\n# Environment=COMMENTED=1\nEnvironment=MALLOC_ARENA_MAX=1\n"
                    "Environment=PYTHONUNBUFFERED=1\nExecStart=/opt/wallbox/bin/wallbox run\n")
    assert unit_environment(unit) == {"MALLOC_ARENA_MAX": "1", "PYTHONUNBUFFERED": "1"}
    assert unit_environment(tmp_path / "missing.service") == {}
    # The checkout's own unit, as the bench's children get it; they read the bench's bytecode.
    env = bytecode_env(tmp_path)
    assert env["MALLOC_ARENA_MAX"] == "1" and env["PYTHONPYCACHEPREFIX"] == str(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env
