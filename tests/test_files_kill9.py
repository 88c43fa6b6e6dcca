"""kill -9 at random moments while every appliance file is being written, 200 times: each file
parses afterwards (state.json, sessions.csv, the history day file, dimming.csv) and no append that
returned is missing. The killing happens in a subprocess, so pytest is never forked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_200_kills_leave_every_file_whole_and_lose_no_acknowledged_row(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    done = subprocess.run([sys.executable, "-m", "faults.kill_writer", str(tmp_path), "200", "7"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=TESTS)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["rounds"] == 200
    assert result["acknowledged"] > 100  # the writers did get work done between the kills
    assert result["problems"] == []
