"""Mode and pause survive restarts and power cuts: round trips, write avoidance, kills mid-write."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from appliance.state import ApplianceState, StateStore, apply_command, atomic_write_text

REPO = Path(__file__).resolve().parents[1]


def test_missing_file_gives_defaults(tmp_path):
    store = StateStore(tmp_path / "nothing-here", default_mode="pv")
    assert store.load() == ApplianceState("pv")


@pytest.mark.parametrize("state", [
    ApplianceState("fast"),
    ApplianceState("off"),
    ApplianceState("minpv", paused=True),
    ApplianceState("pv", paused=True, pause_until_epoch_s=1_790_000_123.5),
])
def test_round_trip_through_a_new_store(tmp_path, state):
    assert StateStore(tmp_path, "fast").save(state) is True
    # A new store is what a restarted service has.
    assert StateStore(tmp_path, "fast").load() == state


def test_written_only_when_changed(tmp_path):
    store = StateStore(tmp_path, "fast")
    assert store.save(ApplianceState("pv")) is True
    inode = os.stat(store.path).st_ino
    assert store.save(ApplianceState("pv")) is False
    assert store.save(ApplianceState("pv")) is False
    assert store.writes == 1
    assert os.stat(store.path).st_ino == inode  # the file was not replaced

    assert store.save(ApplianceState("pv", paused=True)) is True
    assert store.writes == 2
    assert os.stat(store.path).st_ino != inode

    # A restarted service saving what is already on disk does not write either.
    again = StateStore(tmp_path, "fast")
    assert again.save(ApplianceState("pv", paused=True)) is False
    assert again.writes == 0


def test_corrupt_file_gives_defaults_and_a_warning_naming_it(tmp_path, caplog):
    store = StateStore(tmp_path, "minpv")
    store.path.write_text('{"mode": "pv", "paus')
    with caplog.at_level(logging.WARNING, logger="appliance.state"):
        assert store.load() == ApplianceState("minpv")
    assert str(store.path) in caplog.text
    # The damaged file is replaced at the next save even if the state equals the defaults.
    assert store.save(ApplianceState("minpv")) is True
    assert json.loads(store.path.read_text())["mode"] == "minpv"


@pytest.mark.parametrize("content, expected", [
    ('{"mode": "turbo", "paused": false}', ApplianceState("fast")),
    ('["pv"]', ApplianceState("fast")),
    ('{"mode": "pv", "paused": "yes"}', ApplianceState("pv")),
    ('{"mode": "pv", "paused": true, "pause_until_epoch_s": "soon"}', ApplianceState("pv")),
    (b"\xff\xfe\x00garbage", ApplianceState("fast")),
])
def test_damaged_contents_never_raise(tmp_path, caplog, content, expected):
    store = StateStore(tmp_path, "fast")
    if isinstance(content, bytes):
        store.path.write_bytes(content)
    else:
        store.path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="appliance.state"):
        assert store.load() == expected
    assert "state.json" in caplog.text


def test_unwritable_directory_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    store = StateStore(blocker / "sub", "fast")
    with caplog.at_level(logging.WARNING, logger="appliance.state"):
        assert store.save(ApplianceState("pv")) is False
    assert "Cannot save" in caplog.text


def test_timed_pause_ends_by_itself():
    s = ApplianceState("pv", paused=True, pause_until_epoch_s=1000.0)
    assert s.pause_active(999.0) and s.pause_remaining_s(999.0) == pytest.approx(1.0)
    assert not s.pause_active(1000.0)
    assert s.expire(1000.0) == ApplianceState("pv")
    forever = ApplianceState("pv", paused=True)
    assert forever.pause_active(1e12) and forever.pause_remaining_s(1e12) is None


def test_apply_command_answers():
    s = ApplianceState("fast")
    s, answer = apply_command(s, {"command": "mode", "mode": "pv"}, now_epoch_s=100.0)
    assert s == ApplianceState("pv") and answer["previous_mode"] == "fast" and answer["mode"] == "pv"
    s, answer = apply_command(s, {"command": "pause", "minutes": 10}, now_epoch_s=100.0)
    assert s == ApplianceState("pv", True, 700.0) and answer["pause_until_epoch_s"] == 700.0
    s, answer = apply_command(s, {"command": "pause", "minutes": None}, now_epoch_s=200.0)
    assert s == ApplianceState("pv", True, None) and answer["was_paused"] is True
    s, answer = apply_command(s, {"command": "resume"}, now_epoch_s=300.0)
    assert s == ApplianceState("pv") and answer["was_paused"] is True
    # A pause that already ran out is not "was paused".
    s = ApplianceState("pv", True, 50.0)
    s, answer = apply_command(s, {"command": "resume"}, now_epoch_s=60.0)
    assert answer["was_paused"] is False


_WRITER = textwrap.dedent("""
    import sys
    from appliance.state import ApplianceState, StateStore
    store = StateStore(sys.argv[1], "fast")
    modes = ("fast", "pv", "minpv", "off")
    i = 0
    while True:
        i += 1
        if i == 6:
            print("ready", flush=True)
        # A new state every time; the counter in it shows which write the file holds.
        store.save(ApplianceState(modes[i % 4], paused=True, pause_until_epoch_s=float(i)))
""")


def test_kill_during_writes_leaves_a_complete_state(tmp_path):
    """SIGKILL a process that writes states in a tight loop: the file is always a whole state."""
    rng = random.Random(20261121)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    state_dir = tmp_path / "state"
    seen_counters = []
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(state_dir)], cwd=REPO,
                                stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            proc.stdout.close()
        text = (state_dir / "state.json").read_text()
        raw = json.loads(text)  # a torn file fails here
        assert set(raw) == {"version", "mode", "paused", "pause_until_epoch_s"}
        assert raw["paused"] is True
        counter = int(raw["pause_until_epoch_s"])
        assert ("fast", "pv", "minpv", "off")[counter % 4] == raw["mode"]
        seen_counters.append(counter)
        # What the service would load after this power cut: the same complete state.
        loaded = StateStore(state_dir, "fast").load()
        assert loaded == ApplianceState(raw["mode"], True, float(counter))
    # The writer was killed in the middle of its loop, after many writes, every time.
    assert min(seen_counters) >= 5, seen_counters
    assert len(set(seen_counters)) > 1  # killed at different moments


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_text(target, "a" * 10000)
    atomic_write_text(target, "b")
    assert target.read_text() == "b"
    assert not (tmp_path / ".x.json.tmp").exists()
