#!/bin/bash -e
# pi-gen, host side: copies the appliance into the image's root file system (ROOTFS_DIR).
# pi-gen runs it from this directory. files/ was filled by image/build.sh: the project's wheel,
# the systemd units and drop-ins, and wallbox.toml (a copy of appliance/wallbox.example.toml).
set -euo pipefail
: "${ROOTFS_DIR:?pi-gen sets ROOTFS_DIR}"

shopt -s nullglob
wheels=(files/wallbox_appliance-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
	echo "Expected exactly one wallbox_appliance wheel in $PWD/files, found ${#wheels[@]}: run image/build.sh, which builds it." >&2
	exit 1
fi

# The wheel stays in the image (a few hundred kB) so the venv can be rebuilt on the box.
# Not under /tmp: on_chroot mounts a fresh tmpfs there.
install -d -m 755 "${ROOTFS_DIR}/var/cache/wallbox"
rm -f "${ROOTFS_DIR}/var/cache/wallbox/"wallbox_appliance-*.whl
install -m 644 "${wheels[0]}" "${ROOTFS_DIR}/var/cache/wallbox/"
# A build without access to the package index from inside the image (the Debian build) brings
# the pure-Python dependencies as wheels; 02-run-chroot.sh then installs offline from them.
rm -rf "${ROOTFS_DIR}/var/cache/wallbox/wheels"
if [ -d files/wheels ]; then
	install -d -m 755 "${ROOTFS_DIR}/var/cache/wallbox/wheels"
	install -m 644 files/wheels/*.whl "${ROOTFS_DIR}/var/cache/wallbox/wheels/"
fi

install -D -m 644 files/wallbox.service "${ROOTFS_DIR}/usr/lib/systemd/system/wallbox.service"
install -D -m 644 files/watchdog.conf "${ROOTFS_DIR}/etc/systemd/system.conf.d/wallbox-watchdog.conf"
install -D -m 644 files/journald-wallbox.conf "${ROOTFS_DIR}/etc/systemd/journald.conf.d/wallbox.conf"
# Wi-Fi, time zone, host name and the login user's password from system.toml on the boot
# partition, applied at every boot before the network starts.
install -D -m 644 files/wallbox-boot-settings.service "${ROOTFS_DIR}/usr/lib/systemd/system/wallbox-boot-settings.service"
install -D -m 755 files/wallbox-boot-settings "${ROOTFS_DIR}/usr/local/sbin/wallbox-boot-settings"
# The LCD's SPI bus and the GPIO lines for their groups (Raspberry Pi OS has the same rules in
# raspberrypi-sys-mods; Debian has none).
install -D -m 644 files/60-wallbox-gpio-spi.rules "${ROOTFS_DIR}/etc/udev/rules.d/60-wallbox-gpio-spi.rules"
install -D -m 644 files/wifi-powersave-off.conf "${ROOTFS_DIR}/etc/NetworkManager/conf.d/wallbox-wifi-powersave-off.conf"

# The one file the user edits, on the FAT boot partition that every computer can open.
install -D -m 644 files/wallbox.toml "${ROOTFS_DIR}/boot/firmware/wallbox.toml"
install -D -m 644 files/system.toml "${ROOTFS_DIR}/boot/firmware/system.toml"

# SPI for the LCD; the SoC's hardware watchdog, which systemd feeds (RuntimeWatchdogSec=).
# Under [all] so that no model filter section above ([cm4], [cm5]) swallows the lines.
config_txt="${ROOTFS_DIR}/boot/firmware/config.txt"
if ! grep -q '^# wallbox appliance' "${config_txt}"; then
	cat >> "${config_txt}" <<'CONFIG'

[all]
# wallbox appliance: the LCD on SPI0, and the hardware watchdog that resets a hung system
dtparam=spi=on
dtparam=watchdog=on
CONFIG
fi
# Debian's raspi-firmware rewrites config.txt on every kernel update and appends this file.
if [ -f "${ROOTFS_DIR}/etc/default/raspi-firmware" ]; then
	custom="${ROOTFS_DIR}/etc/default/raspi-firmware-custom"
	touch "${custom}"
	for line in dtparam=spi=on dtparam=watchdog=on; do
		grep -qx "${line}" "${custom}" || echo "${line}" >> "${custom}"
	done
fi
