#!/usr/bin/env bash
# Runs one pi-gen stage the way pi-gen's build.sh (bookworm branch) does in run_stage and
# run_sub_stage, against a plain directory instead of a mounted image, on any computer:
#   pigen_stage.sh STAGE_DIR ROOTFS_DIR PREV_ROOTFS_DIR CHROOT_LOG
# on_chroot is replaced by a recorder: each call appends "### on_chroot" and the script it was
# given to CHROOT_LOG. Package lists become the apt-get line pi-gen would run in the chroot.
# copy_previous copies PREV_ROOTFS_DIR (pi-gen uses rsync).
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: pigen_stage.sh STAGE_DIR ROOTFS_DIR PREV_ROOTFS_DIR CHROOT_LOG" >&2
	exit 2
fi
STAGE_DIR=$(realpath "$1")
ROOTFS_DIR=$(realpath -m "$2")
PREV_ROOTFS_DIR=$(realpath -m "$3")
CHROOT_LOG=$(realpath -m "$4")
BASE_DIR=$(dirname "${STAGE_DIR}")
STAGE=$(basename "${STAGE_DIR}")
STAGE_WORK_DIR=$(dirname "${ROOTFS_DIR}")
export STAGE_DIR ROOTFS_DIR PREV_ROOTFS_DIR CHROOT_LOG BASE_DIR STAGE STAGE_WORK_DIR

on_chroot() {
	{
		echo "### on_chroot"
		cat
	} >> "${CHROOT_LOG}"
}
copy_previous() {
	if [ ! -d "${PREV_ROOTFS_DIR}" ]; then
		echo "Previous stage rootfs not found"
		false
	fi
	mkdir -p "${ROOTFS_DIR}"
	cp -a "${PREV_ROOTFS_DIR}/." "${ROOTFS_DIR}/"
}
export -f on_chroot copy_previous

remove_comments() {
	sed -e 's/#.*//' "$1" | tr -s '[:space:]' ' ' | sed -e 's/^ //; s/ $//'
}

cd "${STAGE_DIR}"
if [ -x prerun.sh ]; then
	./prerun.sh
fi
for sub_stage_dir in "${STAGE_DIR}"/*; do
	if [ ! -d "${sub_stage_dir}" ] || [ -f "${sub_stage_dir}/SKIP" ]; then
		continue
	fi
	pushd "${sub_stage_dir}" > /dev/null
	for i in {00..99}; do
		if [ -f "${i}-debconf" ]; then
			on_chroot <<DEBCONF
debconf-set-selections <<SELEOF
$(cat "${i}-debconf")
SELEOF
DEBCONF
		fi
		if [ -f "${i}-packages-nr" ]; then
			packages=$(remove_comments "${i}-packages-nr")
			if [ -n "${packages}" ]; then
				echo "apt-get -o Acquire::Retries=3 install --no-install-recommends -y ${packages}" | on_chroot
			fi
		fi
		if [ -f "${i}-packages" ]; then
			packages=$(remove_comments "${i}-packages")
			if [ -n "${packages}" ]; then
				echo "apt-get -o Acquire::Retries=3 install -y ${packages}" | on_chroot
			fi
		fi
		# pi-gen silently skips a run.sh that is not executable.
		if [ -x "${i}-run.sh" ]; then
			"./${i}-run.sh"
		fi
		if [ -f "${i}-run-chroot.sh" ]; then
			on_chroot < "${i}-run-chroot.sh"
		fi
	done
	popd > /dev/null
done
