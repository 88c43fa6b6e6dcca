"""The Debian image brings every library the project's wheel asks for: pure ones as wheels
(image/debian/pypi-requirements.txt), compiled ones from Debian (image/debian/packages). The chroot
installs with --no-deps, so a dependency added to pyproject.toml and missing here would only show
on the box."""

from __future__ import annotations

import re
import tomllib

from image_helpers import REPO

DEBIAN = REPO / "image" / "debian"
# PyPI name -> the Debian package that provides it (compiled, or older but sufficient).
FROM_DEBIAN = {
    "pillow": "python3-pil",
    "pyserial": "python3-serial",
    "numpy": "python3-numpy",
    "spidev": "python3-spidev",
    "rpi-lgpio": "python3-rpi.gpio",  # Debian's RPi.GPIO provides the same module
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _listed(path) -> set[str]:
    return {_name(line) for line in path.read_text().splitlines() if line.split("#")[0].strip()}


def test_every_dependency_of_the_wheel_is_in_the_image():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["pi"]}
    wheels = _listed(DEBIAN / "pypi-requirements.txt")
    packages = _listed(DEBIAN / "packages")
    missing = [n for n in sorted(needed) if n not in wheels and FROM_DEBIAN.get(n) not in packages]
    assert not missing, f"add these to image/debian/pypi-requirements.txt (pure) or packages (compiled): {missing}"
    assert not wheels & set(FROM_DEBIAN), "compiled libraries come from Debian, not as wheels"
