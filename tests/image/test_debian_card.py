"""The Debian build's card layout (image/debian/build-debian.sh make_image) from a small root
directory: MBR, FAT boot partition with the firmware files, ext4 root, all made without mounting."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from image_helpers import REPO, require_tool

BUILD_DEBIAN = REPO / "image" / "debian" / "build-debian.sh"
MIB = 1024 * 1024


def _make_card(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "boot/firmware/overlays").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("wallbox\n")
    (root / "boot/firmware/config.txt").write_text("[all]\ndtparam=watchdog=on\n")
    (root / "boot/firmware/wallbox.toml").write_text("[grid]\n")
    (root / "boot/firmware/overlays/README").write_text("overlays\n")
    card = tmp_path / "card.img"
    script = f'source "{BUILD_DEBIAN}"; make_image "{root}" "{card}"'
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "WALLBOX_IMAGE_WORK": str(tmp_path / "work"), "IMAGE_SIZE_MIB": "320"},
    )
    assert result.returncode == 0, result.stderr
    return card


def test_card_has_a_fat_boot_and_an_ext4_root_partition(tmp_path):
    for tool in ("sfdisk", "mkfs.vfat", "mcopy", "mdir", "debugfs"):
        require_tool(tool)
    card = _make_card(tmp_path)
    assert card.stat().st_size == 320 * MIB  # a power of two for QEMU only by default; here any size

    table = json.loads(subprocess.run(["sfdisk", "--json", str(card)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    boot, root = table["partitions"]
    assert (boot["start"], boot["size"], boot["type"], boot.get("bootable")) == (8192, 256 * 2048, "c", True)
    assert (root["start"], root["type"]) == (260 * 2048, "83")
    assert root["start"] + root["size"] == 320 * 2048

    # The boot partition: what the firmware reads and the file the homeowner edits, found by mtools.
    listing = subprocess.run(["mdir", "-b", "-/", "-i", f"{card}@@{4 * MIB}", "::/"],
                             capture_output=True, text=True, check=True).stdout
    assert {"::/config.txt", "::/wallbox.toml", "::/overlays/README"} <= set(listing.split())
    label = subprocess.run(["mlabel", "-s", "-i", f"{card}@@{4 * MIB}", "::"], capture_output=True, text=True)
    assert "BOOT" in label.stdout  # fstab mounts LABEL=BOOT

    # The root: ext4 labelled rootfs (cmdline.txt's root=LABEL=rootfs), the boot files moved out.
    ext4 = tmp_path / "root.ext4"
    with card.open("rb") as src, ext4.open("wb") as dst:
        src.seek(260 * MIB)
        dst.write(src.read())
    show = subprocess.run(["debugfs", "-R", "cat /etc/hostname", str(ext4)], capture_output=True, text=True)
    assert show.stdout == "wallbox\n"
    labels = subprocess.run(["dumpe2fs", "-h", str(ext4)], capture_output=True, text=True).stdout
    assert "Filesystem volume name:   rootfs" in labels
    empty = subprocess.run(["debugfs", "-R", "ls -l /boot/firmware", str(ext4)], capture_output=True, text=True)
    assert "config.txt" not in empty.stdout
