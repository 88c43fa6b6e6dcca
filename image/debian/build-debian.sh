#!/usr/bin/env bash
# The appliance's SD-card image from Debian's archive alone (bookworm, armel = ARMv6 for the Pi
# Zero W), without containers or mounts. Called as `image/build.sh debian`; see image/README.md.
#   1. base root: mmdebstrap with image/debian/packages and base-customize.sh, cached as a tar
#      under the work directory by a key over everything that goes into it;
#   2. wheels: the project's wheel (built fresh) and pypi-requirements.txt (downloaded here);
#   3. the appliance: image/stage-wallbox (the stage pi-gen runs too) applied to a copy of the base;
#   4. the card: MBR, FAT boot partition (mtools), ext4 root (mkfs.ext4 -d), xz and sha256.
# Environment: WALLBOX_IMAGE_WORK (work directory), PYTHON (builds the wheel and runs pip),
# IMAGE_SIZE_MIB (default 2048: QEMU takes only powers of two; the card may be larger).
set -euo pipefail

debian_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image_dir=$(dirname "${debian_dir}")
repo_dir=$(dirname "${image_dir}")
work_dir=${WALLBOX_IMAGE_WORK:-${repo_dir}/build/image}
deb_work="${work_dir}/debian"
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://security.debian.org/debian-security}
image_size_mib=${IMAGE_SIZE_MIB:-2048}
boot_start_mib=4
boot_size_mib=256

log() { printf '== %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

need_tools() {
	local missing=() tool
	for tool in mmdebstrap qemu-arm-static sfdisk mkfs.vfat mcopy mkfs.ext4 xz sha256sum; do
		command -v "${tool}" >/dev/null || missing+=("${tool}")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "Missing tools: ${missing[*]}. Install them with: apt-get install mmdebstrap" \
			"qemu-user-static fdisk dosfstools mtools e2fsprogs xz-utils (./bootstrap image does)." >&2
		exit 1
	fi
}

# ARM programs in the root file system run through qemu-user; the kernel needs to know that.
register_binfmt() {
	mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-arm ]; then
		grep -v '^#' /usr/lib/binfmt.d/qemu-arm.conf > /proc/sys/fs/binfmt_misc/register
	fi
}

package_list() {
	sed -e 's/#.*//' "${debian_dir}/packages" | tr -s '[:space:]' ',' | sed -e 's/^,//; s/,$//'
}

# The base root as a tar, rebuilt only when what goes into it changed. Debian's security updates
# are picked up by deleting ${deb_work}/base-*.tar (or WALLBOX_FRESH_BASE=1).
base_tar() {
	local key
	key=$( { cat "${debian_dir}/packages" "${debian_dir}/base-customize.sh"; echo "${suite} ${mirror} ${security_mirror}";
		mmdebstrap --version; } | sha256sum | cut -c1-16)
	local tar="${deb_work}/base-${suite}-armel-${key}.tar"
	if [ "${WALLBOX_FRESH_BASE:-0}" = 1 ]; then rm -f "${tar}"; fi
	if [ -f "${tar}" ]; then
		log "Base root from the cache: ${tar}" >&2
		echo "${tar}"
		return
	fi
	rm -f "${deb_work}"/base-*.tar
	log "Base root: mmdebstrap ${suite} armel (about 5 minutes, most of it emulated dpkg)" >&2
	# The divert keeps dpkg from building the initramfs once per kernel-related package;
	# base-customize.sh builds it once at the end. ($1 is mmdebstrap's, expanded by its shell.)
	# shellcheck disable=SC2016
	mmdebstrap --arch=armel --variant=minbase \
		--include="$(package_list)" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && ln -sf /bin/true "$1/usr/sbin/update-initramfs"' \
		--customize-hook="${debian_dir}/base-customize.sh \"\$1\"" \
		--format=tar "${suite}" "${tar}.part" \
		"deb ${mirror} ${suite} main non-free-firmware" \
		"deb ${mirror} ${suite}-updates main non-free-firmware" \
		"deb ${mirror} ${suite}-backports main" \
		"deb ${security_mirror} ${suite}-security main non-free-firmware" >&2
	mv "${tar}.part" "${tar}"
	echo "${tar}"
}

python_bin() {
	if [ -n "${PYTHON:-}" ]; then echo "${PYTHON}"
	elif [ -x "${repo_dir}/.venv/bin/python" ]; then echo "${repo_dir}/.venv/bin/python"
	else echo python3; fi
}

# Pure-Python wheels for Python 3.11 on any platform, downloaded on this computer (its CA bundle
# verifies the index; pip inside the emulated root cannot). Cached by the requirements' hash.
wheelhouse() {
	local key dir
	key=$(sha256sum "${debian_dir}/pypi-requirements.txt" | cut -c1-16)
	dir="${deb_work}/wheels-${key}"
	if [ ! -f "${dir}/.complete" ]; then
		rm -rf "${deb_work}"/wheels-*
		mkdir -p "${dir}"
		log "Wheels from PyPI into ${dir}" >&2
		local py cert=()
		py=$(python_bin)
		[ -f /etc/ssl/certs/ca-certificates.crt ] && cert=(--cert /etc/ssl/certs/ca-certificates.crt)
		local req
		while read -r req; do
			[ -n "${req}" ] || continue
			# Pure wheels where there are any; an sdist (pyftpdlib) is built into one here.
			if ! PIP_CONSTRAINT='' "${py}" -m pip download --quiet --isolated "${cert[@]}" --no-deps \
				--disable-pip-version-check --only-binary=:all: --platform any --python-version 3.11 --implementation py \
				-d "${dir}" "${req}" >&2 2>/dev/null; then
				PIP_CONSTRAINT='' "${py}" -m pip wheel --quiet --isolated --disable-pip-version-check "${cert[@]}" --no-deps \
					-w "${dir}" "${req}" >&2
			fi
		done < <(sed -e 's/#.*//; s/[[:space:]]*$//' "${debian_dir}/pypi-requirements.txt")
		touch "${dir}/.complete"
	fi
	echo "${dir}"
}

# The login user of the Debian image (uid 1000, like pi-gen's first user): no password until
# system.toml gives one; in group wallbox (by the stage) for `wallbox status` without sudo.
# Debian enables wpa_supplicant's D-Bus service, which fails without D-Bus: the image uses
# wpa_supplicant@wlan0 (started by wallbox-boot-settings) instead.
prepare_debian_root() {
	local root=$1
	chroot "${root}" systemctl disable wpa_supplicant.service >/dev/null 2>&1 || true
	if ! chroot "${root}" getent passwd admin >/dev/null; then
		chroot "${root}" adduser --quiet --disabled-password --gecos "wallbox owner" --uid 1000 admin
		chroot "${root}" adduser --quiet admin sudo
	fi
}

# Runs image/stage-wallbox against the root $1 the way pi-gen runs a stage (sub-stages in order,
# NN-run.sh on the host with ROOTFS_DIR, NN-run-chroot.sh inside), except NN-packages: those are
# Raspberry Pi OS names; here image/debian/packages brought the same roles into the base.
apply_stage() {
	local root=$1 wheel=$2 wheels=$3 stage="${deb_work}/stage"
	"${image_dir}/build.sh" stage "${stage}" "${wheel}"
	mkdir -p "${stage}/00-wallbox/files/wheels"
	cp "${wheels}"/*.whl "${stage}/00-wallbox/files/wheels/"
	ROOTFS_DIR=$(cd "${root}" && pwd)
	export ROOTFS_DIR
	on_chroot() { chroot "${ROOTFS_DIR}" /bin/bash -e; }
	export -f on_chroot
	local sub i
	for sub in "${stage}"/*/; do
		for i in {00..99}; do
			if [ -x "${sub}${i}-run.sh" ]; then
				log "stage ${sub#"${stage}"/}${i}-run.sh"
				(cd "${sub}" && "./${i}-run.sh")
			fi
			if [ -f "${sub}${i}-run-chroot.sh" ]; then
				log "stage ${sub#"${stage}"/}${i}-run-chroot.sh (emulated)"
				on_chroot < "${sub}${i}-run-chroot.sh"
			fi
		done
	done
}

# The boot test's guest side: inert unless the boot partition has selftest.toml (boot-test.sh
# writes it to its own copy of the image only).
install_selftest() {
	local root=$1
	install -D -m 644 "${image_dir}/selftest/wallbox-selftest.service" \
		"${root}/usr/lib/systemd/system/wallbox-selftest.service"
	install -D -m 755 "${image_dir}/selftest/wallbox-selftest" "${root}/usr/local/lib/wallbox/wallbox-selftest"
	chroot "${root}" systemctl enable wallbox-selftest.service >/dev/null 2>&1
}

# The card: MBR, FAT32 boot partition at 4 MiB, ext4 root behind it, all without mounting.
make_image() {
	local root=$1 img=$2
	local boot="${deb_work}/bootfs" root_start_mib=$((boot_start_mib + boot_size_mib))
	rm -rf "${boot}" "${img}"
	mkdir -p "${boot}"
	mv "${root}"/boot/firmware/* "${boot}/"
	truncate -s "${image_size_mib}M" "${img}"
	printf 'label: dos\nstart=%s, size=%s, type=c, bootable\nstart=%s, type=83\n' \
		$((boot_start_mib * 2048)) $((boot_size_mib * 2048)) $((root_start_mib * 2048)) | sfdisk -q "${img}"
	rm -f "${deb_work}/boot.vfat" "${deb_work}/root.ext4"
	truncate -s "${boot_size_mib}M" "${deb_work}/boot.vfat"
	mkfs.vfat -F 32 -n BOOT "${deb_work}/boot.vfat" >/dev/null
	mcopy -s -i "${deb_work}/boot.vfat" "${boot}"/* ::/
	# Inode tables and journal written now: otherwise the kernel's ext4lazyinit writes them in the
	# background for minutes after the first boots.
	mkfs.ext4 -q -L rootfs -E lazy_itable_init=0,lazy_journal_init=0 -d "${root}" "${deb_work}/root.ext4" "$(( (image_size_mib - root_start_mib) * 1024 ))k"
	dd if="${deb_work}/boot.vfat" of="${img}" bs=1M seek="${boot_start_mib}" conv=notrunc,sparse status=none
	dd if="${deb_work}/root.ext4" of="${img}" bs=1M seek="${root_start_mib}" conv=notrunc,sparse status=none
	rm -f "${deb_work}/boot.vfat" "${deb_work}/root.ext4"
}

main() {
	local started version stamp
	started=$(date +%s)
	need_tools
	register_binfmt
	mkdir -p "${deb_work}"
	# One build at a time per work directory: two would write the same base tar.
	exec 9>"${deb_work}/.lock"
	if ! flock -n 9; then
		echo "Another image build is using ${deb_work}: wait for it to finish." >&2
		exit 1
	fi
	version=$("$(python_bin)" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
		"${repo_dir}/pyproject.toml")
	stamp=$(date -u +%Y%m%d)
	local tar wheels wheel root="${deb_work}/rootfs"
	tar=$(base_tar)
	wheels=$(wheelhouse)
	wheel=$("${image_dir}/build.sh" wheel "${deb_work}/dist")
	log "Root file system from the base, then the appliance stage"
	rm -rf --one-file-system "${root}"
	mkdir -p "${root}"
	tar -C "${root}" --numeric-owner -xpf "${tar}"
	prepare_debian_root "${root}"
	apply_stage "${root}" "${wheel}" "${wheels}"
	install_selftest "${root}"
	# No real-time clock on the Pi: systemd starts the clock at this file's time (the build's),
	# not at its own release date, until time sync; logs and file times stay plausible.
	touch "${root}/usr/lib/clock-epoch"
	local name="wallbox-${version}-${stamp}.img"
	log "Card image ${work_dir}/${name}"
	make_image "${root}" "${work_dir}/${name}"
	# The boot test needs the kernel, initrd and device tree next to the image.
	rm -rf "${work_dir}/boot-files" && cp -a "${deb_work}/bootfs" "${work_dir}/boot-files"
	ln -sfn "${name}" "${work_dir}/wallbox-latest.img"
	log "Compressing (xz)"
	rm -f "${work_dir}/${name}.xz"
	# -3: measured 3 min and 137 MiB here against -6's 4.3 min and 120 MiB.
	xz -T0 -3 -k "${work_dir}/${name}"
	(cd "${work_dir}" && sha256sum "${name}.xz" > "${name}.xz.sha256")
	local used
	used=$(du -m "${deb_work}/rootfs" -s | cut -f1)
	log "Done in $(( $(date +%s) - started )) s"
	echo "   ${work_dir}/${name}.xz: $(du -m "${work_dir}/${name}.xz" | cut -f1) MiB compressed," \
		"card image ${image_size_mib} MiB, root file system ${used} MiB"
	echo "   sha256: $(cut -d' ' -f1 "${work_dir}/${name}.xz.sha256")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
