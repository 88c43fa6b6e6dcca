#!/usr/bin/env bash
# Boots the SD-card image from `image/build.sh debian` in QEMU (raspi0 = Pi Zero, serial console
# on the mini UART ttyS1, bounded by a timeout) and lets the guest check the appliance:
#   image/boot-test.sh [IMAGE]     default build/image/wallbox-latest.img
# A copy of the image gets test settings on its boot partition (image/selftest/wallbox-test.toml:
# the simulated wallbox and inverter on loopback) and selftest.toml, which switches on
# wallbox-selftest.service inside. The guest prints "SELFTEST ..." lines and powers off.
# Prints the boot times and the console's tail; keeps the whole console log in
# build/image/boot-test-console.log. Exit 0 only if every check passed.
# Environment: BOOT_TEST_TIMEOUT_S (default 900), WALLBOX_IMAGE_WORK.
set -euo pipefail

image_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "${image_dir}")
work_dir=${WALLBOX_IMAGE_WORK:-${repo_dir}/build/image}
image=${1:-${work_dir}/wallbox-latest.img}
boot_files=$(dirname "${image}")/boot-files
timeout_s=${BOOT_TEST_TIMEOUT_S:-900}
console_log="${work_dir}/boot-test-console.log"
boot_offset=$((4 * 1024 * 1024))   # the FAT partition starts at 4 MiB (build-debian.sh)

for tool in qemu-system-arm fdtput mcopy; do
	if ! command -v "${tool}" >/dev/null; then
		echo "${tool} is missing: apt-get install qemu-system-arm device-tree-compiler mtools (./bootstrap image does)." >&2
		exit 1
	fi
done
if [ ! -f "${image}" ] || [ ! -d "${boot_files}" ]; then
	echo "No image at ${image} (with ${boot_files} beside it): build one with image/build.sh debian." >&2
	exit 1
fi

tmp=$(mktemp -d "${work_dir}/boot-test.XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
cp --sparse=always "$(readlink -f "${image}")" "${tmp}/card.img"
mcopy -o -i "${tmp}/card.img@@${boot_offset}" "${image_dir}/selftest/wallbox-test.toml" ::/wallbox.toml
mcopy -o -i "${tmp}/card.img@@${boot_offset}" "${image_dir}/selftest/selftest.toml" ::/selftest.toml

# QEMU's raspi0 has the power-management block but not at the address Linux's bcm2835 watchdog
# node asks for: without this patch the kernel faults in bcm2835_power_probe. The card keeps the
# original device tree; only QEMU gets the patched copy.
cp "${boot_files}/bcm2835-rpi-zero-w.dtb" "${tmp}/qemu.dtb"
fdtput -t x "${tmp}/qemu.dtb" /soc/watchdog@7e100000 reg 7e100000 114
fdtput -t s "${tmp}/qemu.dtb" /soc/watchdog@7e100000 reg-names pm

kernels=("${boot_files}"/vmlinuz-*)
initrds=("${boot_files}"/initrd.img-*)
kernel=${kernels[-1]}
initrd=${initrds[-1]}
# QEMU's raspi power-management block resets the machine the moment Linux arms its watchdog, so
# systemd is told on QEMU's kernel command line only not to arm it (systemd.watchdog_sec=0); the
# guest still checks that the card's setting (RuntimeWatchdogSec=14s) and the device are there.
cmdline="$(cat "${boot_files}/cmdline.txt") systemd.watchdog_sec=0"
echo "== Booting ${image} in QEMU raspi0 (at most ${timeout_s} s); console: ${console_log}"
echo "   kernel command line (the card's cmdline.txt, watchdog off for QEMU): ${cmdline}"
started=$(date +%s)
rc=0
timeout "${timeout_s}" qemu-system-arm -M raspi0 -kernel "${kernel}" -initrd "${initrd}" -dtb "${tmp}/qemu.dtb" \
	-drive "file=${tmp}/card.img,format=raw,if=sd" -append "${cmdline}" \
	-display none -monitor none -serial null -serial "file:${console_log}" -no-reboot || rc=$?
echo "== QEMU ended after $(( $(date +%s) - started )) s (exit ${rc}$([ "${rc}" = 124 ] && echo ': timeout'))"

grep -a -E 'Startup finished|Reached target.*Multi-User|SELFTEST (ok|FAIL|time|RESULT|system)' "${console_log}" \
	| sed -e 's/\r$//' || true
echo "== Console tail"
tail -n 25 "${console_log}" | sed -e 's/\r$//'
if grep -a -q 'SELFTEST RESULT PASS' "${console_log}" && grep -a -q 'Multi-User System' "${console_log}"; then
	echo "== Boot test passed"
	exit 0
fi
echo "== Boot test FAILED: see the SELFTEST lines above and ${console_log}" >&2
exit 1
