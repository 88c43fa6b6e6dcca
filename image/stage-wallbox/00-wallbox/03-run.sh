#!/bin/bash -e
# pi-gen, host side: the optional read-only root file system (WALLBOX_READONLY_ROOT=1 in
# image/config). See wallbox-readonly-root.service for why it is switched on at the first boot
# after Imager's customisation, and not here.
set -euo pipefail
: "${ROOTFS_DIR:?pi-gen sets ROOTFS_DIR}"

if [ "${WALLBOX_READONLY_ROOT:-0}" = "1" ]; then
	install -D -m 644 files/wallbox-readonly-root.service \
		"${ROOTFS_DIR}/usr/lib/systemd/system/wallbox-readonly-root.service"
	on_chroot <<'CHROOT'
systemctl enable wallbox-readonly-root.service
CHROOT
else
	# A rebuild (pi-gen's CONTINUE=1) after switching it off again.
	rm -f "${ROOTFS_DIR}/usr/lib/systemd/system/wallbox-readonly-root.service" \
		"${ROOTFS_DIR}/etc/systemd/system/multi-user.target.wants/wallbox-readonly-root.service"
fi
