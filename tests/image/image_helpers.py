"""Paths and tools shared by the SD-card image checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "image" / "build.sh"


def require_tool(name: str) -> str:
    """Path of a command-line tool the checks need; a clear failure (not a skip) if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: ./bootstrap test installs it (Debian package list).")
    return path
