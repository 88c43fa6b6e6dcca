"""Fixtures for the SD-card image checks: the project's wheel, built once per test run."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from image_helpers import BUILD_SH


def _build_wheel(out: Path) -> Path:
    result = subprocess.run(
        ["bash", str(BUILD_SH), "wheel", str(out)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent.resolve() == out.resolve() and path.is_file(), result.stdout
    return path


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel exactly as image/build.sh builds it for the image.

    Under pytest-xdist the files that need it may run in different workers: the first builds it
    into the run's shared temporary directory and the others wait for it and use it (a lock file),
    so one run builds it once."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _build_wheel(tmp_path_factory.mktemp("dist"))
    shared = tmp_path_factory.getbasetemp().parent   # this run's directory, shared by its workers
    out = shared / "wheel-dist"
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = out / "built"
        if built.is_file():
            return Path(built.read_text())
        out.mkdir(exist_ok=True)
        path = _build_wheel(out)
        built.write_text(str(path))
        return path
