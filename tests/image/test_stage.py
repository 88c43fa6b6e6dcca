"""The pi-gen stage, run as pi-gen runs it, against a directory standing in for the image's root.

image/build.sh assembles the stage (the same code path as a real image build), pigen_stage.sh runs
prerun.sh, the package lists, the host-side NN-run.sh scripts and records what pi-gen would run
inside the image (on_chroot). The recorded `systemctl enable` lines are then carried out for real
with `systemctl --root` on the directory, so the unit's [Install] section is checked too.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from image_helpers import BUILD_SH, REPO, require_tool

PIGEN_STAGE = Path(__file__).with_name("pigen_stage.sh")
SUB_STAGE = REPO / "image" / "stage-wallbox" / "00-wallbox"

# The end of pi-gen's stage1 config.txt (bookworm): model filters, then [all].
STAGE1_CONFIG_TXT = """\
# For more options and information see
# http://rptl.io/configtxt
#dtparam=spi=on
dtparam=audio=on
auto_initramfs=1
arm_boost=1

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""


def _assemble(tmp_path: Path, wheel: Path) -> Path:
    stage = tmp_path / "pi-gen" / "stage-wallbox"
    stage.parent.mkdir()
    result = subprocess.run(["bash", str(BUILD_SH), "stage", str(stage), str(wheel)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return stage


def _stage2_root(tmp_path: Path, config_txt: str = STAGE1_CONFIG_TXT) -> Path:
    """What stage2 (Raspberry Pi OS Lite) leaves behind, as far as this stage touches it."""
    prev = tmp_path / "work" / "stage2" / "rootfs"
    (prev / "boot" / "firmware").mkdir(parents=True)
    (prev / "boot" / "firmware" / "config.txt").write_text(config_txt)
    (prev / "usr" / "lib" / "systemd" / "system").mkdir(parents=True)
    (prev / "etc" / "systemd" / "system").mkdir(parents=True)
    return prev


def _run_stage(stage: Path, tmp_path: Path, readonly_root: str = "0") -> tuple[Path, str]:
    rootfs = tmp_path / "work" / "stage-wallbox" / "rootfs"
    log = tmp_path / "chroot.log"
    log.write_text("")
    env = {**os.environ, "WALLBOX_READONLY_ROOT": readonly_root}
    result = subprocess.run(
        ["bash", str(PIGEN_STAGE), str(stage), str(rootfs), str(tmp_path / "work" / "stage2" / "rootfs"),
         str(log)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return rootfs, log.read_text()


def _chroot_scripts(log: str) -> list[str]:
    return [part.strip("\n") for part in log.split("### on_chroot\n") if part.strip()]


def _enable_for_real(rootfs: Path, chroot_log: str) -> list[str]:
    """Carries out the recorded `systemctl enable|disable` lines offline on the root directory."""
    systemctl = require_tool("systemctl")
    done = []
    for script in _chroot_scripts(chroot_log):
        for line in script.splitlines():
            if not line.startswith("systemctl "):
                continue
            words = shlex.split(line)
            if words[1] in ("enable", "disable"):
                subprocess.run([systemctl, f"--root={rootfs}", *words[1:]], check=True,
                               capture_output=True, timeout=30)
                done.append(line)
    return done


@pytest.fixture
def built(tmp_path, wheel):
    stage = _assemble(tmp_path, wheel)
    _stage2_root(tmp_path)
    rootfs, log = _run_stage(stage, tmp_path)
    return stage, rootfs, log


def test_host_scripts_are_executable_in_the_source_tree():
    # pi-gen skips a NN-run.sh without the executable bit, silently.
    for name in ("01-run.sh", "03-run.sh"):
        assert (SUB_STAGE / name).stat().st_mode & stat.S_IXUSR, name
    assert (REPO / "image" / "stage-wallbox" / "prerun.sh").stat().st_mode & stat.S_IXUSR
    assert (REPO / "image" / "stage-wallbox" / "EXPORT_IMAGE").is_file()


def test_files_land_where_the_appliance_expects_them(built, wheel):
    _stage, rootfs, _log = built
    boot = rootfs / "boot" / "firmware"

    # The one file the user edits: the commented example, byte for byte.
    assert (boot / "wallbox.toml").read_bytes() == (REPO / "appliance" / "wallbox.example.toml").read_bytes()

    unit = rootfs / "usr/lib/systemd/system/wallbox.service"
    assert unit.read_bytes() == (REPO / "systemd" / "wallbox.service").read_bytes()
    assert (rootfs / "etc/systemd/system.conf.d/wallbox-watchdog.conf").read_bytes() == \
        (REPO / "systemd/system.conf.d/watchdog.conf").read_bytes()
    assert (rootfs / "etc/systemd/journald.conf.d/wallbox.conf").read_bytes() == \
        (REPO / "systemd/journald.conf.d/wallbox.conf").read_bytes()
    assert "wifi.powersave = 2" in \
        (rootfs / "etc/NetworkManager/conf.d/wallbox-wifi-powersave-off.conf").read_text()

    # Wi-Fi, time zone, host name from the boot partition; the device groups for SPI and GPIO.
    assert (boot / "system.toml").read_bytes() == (REPO / "image/boot-settings/system.toml").read_bytes()
    assert (rootfs / "usr/lib/systemd/system/wallbox-boot-settings.service").read_bytes() == \
        (REPO / "systemd/wallbox-boot-settings.service").read_bytes()
    script = rootfs / "usr/local/sbin/wallbox-boot-settings"
    assert script.read_bytes() == (REPO / "image/boot-settings/wallbox-boot-settings").read_bytes()
    assert script.stat().st_mode & stat.S_IXUSR
    rules = (rootfs / "etc/udev/rules.d/60-wallbox-gpio-spi.rules").read_text()
    assert 'SUBSYSTEM=="spidev", GROUP="spi"' in rules and 'KERNEL=="gpiomem", GROUP="gpio"' in rules
    # pi-gen's build brings no wheels: its chroot step installs from the index.
    assert not (rootfs / "var/cache/wallbox/wheels").exists()

    installed = list((rootfs / "var/cache/wallbox").glob("wallbox_appliance-*.whl"))
    assert [p.name for p in installed] == [wheel.name]
    assert installed[0].read_bytes() == wheel.read_bytes()

    # The optional read-only root is off by default.
    assert not (rootfs / "usr/lib/systemd/system/wallbox-readonly-root.service").exists()


@pytest.mark.parametrize(
    "config_txt",
    [STAGE1_CONFIG_TXT, STAGE1_CONFIG_TXT.removesuffix("\n[all]\n")],
    ids=["ends-with-all", "ends-with-cm5-filter"],
)
def test_config_txt_enables_spi_and_watchdog_under_all(tmp_path, wheel, config_txt):
    stage = _assemble(tmp_path, wheel)
    _stage2_root(tmp_path, config_txt)
    rootfs, _log = _run_stage(stage, tmp_path)
    text = (rootfs / "boot/firmware/config.txt").read_text()
    assert text.startswith(config_txt)  # pi-gen's own lines untouched
    lines = [line.strip() for line in text.splitlines()]
    for wanted in ("dtparam=spi=on", "dtparam=watchdog=on"):
        assert lines.count(wanted) == 1, wanted
        # The section in force for the line is the last [..] header above it: it must be [all].
        above = lines[: lines.index(wanted)]
        sections = [line for line in above if re.fullmatch(r"\[.*\]", line)]
        assert sections[-1] == "[all]", (wanted, sections)


def test_running_the_stage_again_changes_nothing(tmp_path, wheel):
    # pi-gen's CONTINUE=1 reruns a stage on the same root file system.
    stage = _assemble(tmp_path, wheel)
    _stage2_root(tmp_path)
    rootfs, _ = _run_stage(stage, tmp_path)
    first = (rootfs / "boot/firmware/config.txt").read_text()
    rootfs, _ = _run_stage(stage, tmp_path)
    assert (rootfs / "boot/firmware/config.txt").read_text() == first
    assert len(list((rootfs / "var/cache/wallbox").glob("*.whl"))) == 1


def test_chroot_steps_install_packages_user_venv_and_enable_the_service(built):
    _stage, rootfs, log = built
    scripts = _chroot_scripts(log)
    # First the package list, then the chroot script, in pi-gen's order.
    assert scripts[0].startswith("apt-get -o Acquire::Retries=3 install -y ")
    packages = scripts[0].split(" -y ", 1)[1].split()
    for needed in ("python3-venv", "python3-numpy", "python3-pil", "python3-spidev", "python3-rpi-lgpio"):
        assert needed in packages
    assert not any(p.startswith("#") for p in packages)
    assert scripts[1] == (SUB_STAGE / "02-run-chroot.sh").read_text().strip("\n")
    assert len(scripts) == 2  # no read-only root steps by default

    chroot = scripts[1]
    assert re.search(r"^\s*adduser --system --group .*\bwallbox$", chroot, re.M)
    assert re.search(r"for group in dialout spi gpio; do\s+adduser wallbox \"\$\{group\}\"", chroot)
    venv = re.search(r"python3 -m venv --system-site-packages (\S+)", chroot).group(1)
    assert re.search(rf"{re.escape(venv)}/bin/pip install .*\n?.*\"\$\{{wheel\}}\[pi\]\"", chroot)
    # The wheel the chroot step installs is the one the host step put into the image.
    wheel_glob = re.search(r"wheel=\$\(ls (\S+)\)", chroot).group(1)
    assert list(rootfs.glob(wheel_glob.lstrip("/")))
    # The unit starts the program from that venv, with the settings on the boot partition.
    unit = (rootfs / "usr/lib/systemd/system/wallbox.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    assert exec_start == [f"{venv}/bin/wallbox", "run", "--config", "/boot/firmware/wallbox.toml"]
    assert (rootfs / "boot/firmware/wallbox.toml").is_file()

    assert _enable_for_real(rootfs, log) == ["systemctl enable wallbox.service",
                                             "systemctl enable wallbox-boot-settings.service"]
    link = rootfs / "etc/systemd/system/multi-user.target.wants/wallbox.service"
    assert link.is_symlink()
    assert os.readlink(link) == "/usr/lib/systemd/system/wallbox.service"
    # system.toml is applied early at every boot, before the network.
    assert (rootfs / "etc/systemd/system/sysinit.target.wants/wallbox-boot-settings.service").is_symlink()

    # The command on the PATH, and the login user in the control socket's group, in both bases.
    assert re.search(r"^ln -sf /opt/wallbox/bin/wallbox /usr/local/bin/wallbox$", chroot, re.M)
    assert "getent passwd 1000" in chroot and re.search(r'adduser "\$\{login_user\}" wallbox', chroot)
    # Offline from the shipped wheels when the build brought them (the Debian build), else the index.
    assert re.search(r"pip install --no-cache-dir --no-index --no-deps /var/cache/wallbox/wheels/\*\.whl", chroot)


def test_read_only_root_switch(tmp_path, wheel):
    stage = _assemble(tmp_path, wheel)
    _stage2_root(tmp_path)
    rootfs, log = _run_stage(stage, tmp_path, readonly_root="1")
    unit = rootfs / "usr/lib/systemd/system/wallbox-readonly-root.service"
    assert unit.read_bytes() == (REPO / "systemd/wallbox-readonly-root.service").read_bytes()
    assert "systemctl enable wallbox-readonly-root.service" in _chroot_scripts(log)[-1]
    _enable_for_real(rootfs, log)
    assert (rootfs / "etc/systemd/system/multi-user.target.wants/wallbox-readonly-root.service").is_symlink()
    assert (rootfs / "etc/systemd/system/multi-user.target.wants/wallbox.service").is_symlink()

    # Switched off again and rebuilt with CONTINUE=1: gone, and the service stays enabled.
    _, log = _run_stage(stage, tmp_path, readonly_root="0")
    assert not unit.exists()
    assert not (rootfs / "etc/systemd/system/multi-user.target.wants/wallbox-readonly-root.service").exists()
    assert (rootfs / "etc/systemd/system/multi-user.target.wants/wallbox.service").is_symlink()


def test_stage_without_wheel_stops_with_a_message(tmp_path, wheel):
    stage = _assemble(tmp_path, wheel)
    for whl in (stage / "00-wallbox" / "files").glob("*.whl"):
        whl.unlink()
    _stage2_root(tmp_path)
    rootfs = tmp_path / "work" / "stage-wallbox" / "rootfs"
    result = subprocess.run(
        ["bash", str(PIGEN_STAGE), str(stage), str(rootfs), str(tmp_path / "work/stage2/rootfs"),
         str(tmp_path / "log")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "run image/build.sh" in result.stderr


def test_assembling_without_a_wheel_is_refused(tmp_path):
    result = subprocess.run(["bash", str(BUILD_SH), "stage", str(tmp_path / "s"), str(tmp_path / "none.whl")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "image/build.sh wheel DIR" in result.stderr
    assert not (tmp_path / "s").exists()
