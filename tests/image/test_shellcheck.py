"""Every shell script of the project passes shellcheck (CI has no Pi and no container engine: this
and the stage run in test_stage.py are what checks the image build here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from image_helpers import REPO, require_tool

SKIP_DIRS = {".git", ".venv", "build", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis"}
# Shell files without the .sh ending.
NAMED = [
    "bootstrap",
    ".ci/run",
    ".ci/release",
    "image/config",
    "image/stage-wallbox/EXPORT_IMAGE",
]


def shell_scripts() -> list[Path]:
    found = set()
    for path in REPO.rglob("*.sh"):
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            found.add(path)
    found.update(REPO / name for name in NAMED if (REPO / name).is_file())
    # pi-gen's run-chroot scripts are fed to bash on standard input: .sh too, but say it.
    found.update((REPO / "image").rglob("*-run-chroot.sh"))
    return sorted(found)


def test_the_image_scripts_are_found():
    names = {p.relative_to(REPO).as_posix() for p in shell_scripts()}
    for expected in (
        "image/build.sh",
        "image/config",
        "image/stage-wallbox/prerun.sh",
        "image/stage-wallbox/EXPORT_IMAGE",
        "image/stage-wallbox/00-wallbox/01-run.sh",
        "image/stage-wallbox/00-wallbox/02-run-chroot.sh",
        "image/stage-wallbox/00-wallbox/03-run.sh",
        "tests/image/pigen_stage.sh",
        "image/boot-test.sh",
        "image/debian/build-debian.sh",
        "image/debian/base-customize.sh",
        ".ci/release",
    ):
        assert expected in names


def test_shellcheck_is_clean():
    shellcheck = require_tool("shellcheck")
    scripts = shell_scripts()
    # config and EXPORT_IMAGE have no #! line: a "shellcheck shell=bash" directive says what they are.
    result = subprocess.run(
        [shellcheck, "--external-sources", *map(str, scripts)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
