"""Fixtures for the SD-card image checks: the project's wheel, built once per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from image_helpers import BUILD_SH


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel exactly as image/build.sh builds it for the image."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["bash", str(BUILD_SH), "wheel", str(out)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent.resolve() == out.resolve() and path.is_file(), result.stdout
    return path
