"""Kills a writer of every appliance file with SIGKILL, `rounds` times, at random moments.

Run as `python -m faults.kill_writer DIR ROUNDS SEED` from tests/ (the test does it in a
subprocess, so pytest itself is never forked). Each round forks a child that writes state.json,
sessions.csv, the history day file and dimming.csv in a loop, acknowledging each append that
returned on a pipe; the parent kills it after 0-25 ms and checks that every file parses and that
no acknowledged row is missing. Prints one JSON line with the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.atomicfile import append_csv_rows
from appliance.dimming import DimmingPeriod, append_period
from appliance.history import HistoryStore, read_day
from appliance.sessions import CSV_FIELDS, Session, read_sessions
from appliance.state import ApplianceState, StateStore

T0 = datetime(2026, 6, 21, 9, 0, tzinfo=timezone.utc)
MODES = ("fast", "pv", "off")


def child(directory: Path, ack_fd: int, seed: int) -> None:
    rng = random.Random(seed)
    store = StateStore(directory, "fast")
    clock = [T0.timestamp() + seed * 60]
    history = HistoryStore(directory / "history", clock=lambda: clock[0], tz=timezone.utc,
                           write_interval_s=0)
    n = 0
    while True:
        n += 1
        store.save(ApplianceState(MODES[n % 3], paused=n % 2 == 0))
        start = T0 + timedelta(minutes=n)
        session = Session(start, start + timedelta(minutes=1), 100.0 + n, 50.0, 16.0)
        append_csv_rows(directory / "sessions.csv", CSV_FIELDS, [session.csv_row()])
        os.write(ack_fd, b"s")
        history.add(pv_w=rng.randrange(10000), house_w=500, car_w=0, allowance_w=11000)
        clock[0] += 60
        append_period(directory / "dimming.csv", DimmingPeriod(start, start + timedelta(seconds=30)))
        os.write(ack_fd, b"d")


def check(directory: Path, acks: bytes) -> list[str]:
    problems = []
    state_text = (directory / "state.json").read_text() if (directory / "state.json").exists() else None
    if state_text is not None:
        _state, problem = StateStore(directory, "fast")._parse(state_text)
        if problem:
            problems.append(f"state.json: {problem}")
    sessions_path = directory / "sessions.csv"
    if sessions_path.exists():
        lines = sessions_path.read_text().splitlines()
        rows = read_sessions(sessions_path)
        if len(rows) != max(0, len(lines) - 1):  # an empty file (killed after creating it) is fine
            problems.append(f"sessions.csv: {len(lines)} lines, {len(rows)} rows")
        if len(rows) < acks.count(b"s"):
            problems.append(f"sessions.csv: {len(rows)} rows for {acks.count(b's')} acknowledged")
    dimming = directory / "dimming.csv"
    if dimming.exists():
        lines = dimming.read_text().splitlines()[1:]
        if any(len(line.split(",")) != 3 for line in lines) or len(lines) < acks.count(b"d"):
            problems.append(f"dimming.csv: {len(lines)} rows for {acks.count(b'd')} acknowledged")
    for day in (directory / "history").glob("*.csv"):
        text = day.read_text()
        if not text.startswith("minute,") or len(read_day(day)) != len(text.splitlines()) - 1:
            problems.append(f"{day.name}: damaged")
    return problems


def main(directory: Path, rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    problems: list[str] = []
    acked = 0
    for i in range(rounds):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                child(directory, write_fd, seed * 1000 + i)
            finally:
                os._exit(1)
        os.close(write_fd)
        time.sleep(rng.uniform(0.0, 0.025))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        acks = b""
        while chunk := os.read(read_fd, 65536):
            acks += chunk
        os.close(read_fd)
        acked += len(acks)
        # What a kill left must parse, and the appends acknowledged since the last check are in.
        problems += [f"round {i}: {p}" for p in check(directory, acks)]
        for name in ("sessions.csv", "dimming.csv"):  # the next round counts its own rows
            (directory / name).unlink(missing_ok=True)
    return {"rounds": rounds, "acknowledged": acked, "problems": problems}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
