#!/usr/bin/env bash
# Builds the appliance's SD-card image for the Pi Zero W. See image/README.md.
#
#   image/build.sh [debian]          from Debian's archive alone (bookworm armel), no containers or
#                                    mounts: build/image/wallbox-<version>-<date>.img.xz (+ .sha256)
#   image/build.sh pigen             Raspberry Pi OS Lite (bookworm armhf) with pi-gen in Docker: the
#                                    release image; needs the Raspberry Pi OS archive
#   image/build.sh wheel DIR         only the project's wheel, into DIR
#   image/build.sh stage DIR WHEEL   only the pi-gen stage, assembled in DIR (DIR is replaced)
#
# Environment: WALLBOX_IMAGE_WORK (default build/image in this checkout) holds the pi-gen checkout
# and the wheel; PYTHON (default .venv/bin/python, else python3) builds the wheel; DOCKER and
# pi-gen's CONTINUE=1 / PRESERVE_CONTAINER=1 pass through to pi-gen's build-docker.sh.
set -euo pipefail

# pi-gen's bookworm branch (the last one that builds 32-bit images), pinned: 2026-06-15,
# "Update release notes". Move it forward deliberately, after a test build.
PI_GEN_URL=https://github.com/RPi-Distro/pi-gen.git
PI_GEN_COMMIT=4be6bbd0933c900517cb309d4f4f44267d2c2cac

image_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "${image_dir}")
work_dir=${WALLBOX_IMAGE_WORK:-${repo_dir}/build/image}

python_bin() {
	if [ -n "${PYTHON:-}" ]; then
		echo "${PYTHON}"
	elif [ -x "${repo_dir}/.venv/bin/python" ]; then
		echo "${repo_dir}/.venv/bin/python"
	else
		echo python3
	fi
}

# Builds the wheel into $1 (old wallbox wheels there are removed) and prints its path.
build_wheel() {
	local dest=$1
	mkdir -p "${dest}"
	dest=$(cd "${dest}" && pwd)
	rm -f "${dest}"/wallbox_appliance-*.whl
	# From a clean copy of the tree: setuptools' in-tree build/lib keeps files that were deleted
	# from the sources since, and would put them into the wheel.
	local src
	src=$(mktemp -d)
	tar -C "${repo_dir}" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
		--exclude=__pycache__ --exclude=./out --exclude=./hardware/case/out -cf - . | tar -C "${src}" -xf -
	# With the build backend (setuptools >= 77, see pyproject.toml) already in the build's Python,
	# pip builds in place instead of installing it into a fresh isolated environment first.
	local python isolation=()
	python=$(python_bin)
	if "${python}" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' \
		2>/dev/null; then
		isolation=(--no-build-isolation)
	fi
	"${python}" -m pip wheel --quiet --no-deps "${isolation[@]}" --wheel-dir "${dest}" "${src}" >&2
	rm -rf "${src}"
	local wheels=("${dest}"/wallbox_appliance-*.whl)
	if [ ! -f "${wheels[0]}" ]; then
		echo "pip built no wallbox_appliance wheel in ${dest}." >&2
		exit 1
	fi
	echo "${wheels[0]}"
}

# Copies image/stage-wallbox to $1 and fills its files/ with what the stage installs: the wheel
# $2, the systemd units and drop-ins, and wallbox.toml made from the one commented example.
assemble_stage() {
	local dest=$1 wheel=$2
	local example="${repo_dir}/appliance/wallbox.example.toml"
	if [ ! -f "${wheel}" ]; then
		echo "No wheel at ${wheel}: build it with 'image/build.sh wheel DIR'." >&2
		exit 1
	fi
	if [ ! -f "${example}" ]; then
		echo "${example} is missing: the image ships it as /boot/firmware/wallbox.toml." >&2
		exit 1
	fi
	rm -rf "${dest}"
	cp -a "${image_dir}/stage-wallbox" "${dest}"
	local files="${dest}/00-wallbox/files"
	mkdir -p "${files}"
	cp "${wheel}" "${files}/"
	cp "${repo_dir}/systemd/wallbox.service" "${repo_dir}/systemd/wallbox-readonly-root.service" "${files}/"
	cp "${repo_dir}/systemd/system.conf.d/watchdog.conf" "${files}/watchdog.conf"
	cp "${repo_dir}/systemd/journald.conf.d/wallbox.conf" "${files}/journald-wallbox.conf"
	cp "${example}" "${files}/wallbox.toml"
	cp "${repo_dir}/systemd/wallbox-boot-settings.service" "${files}/"
	cp "${image_dir}/boot-settings/wallbox-boot-settings" "${image_dir}/boot-settings/system.toml" "${files}/"
}

# A pi-gen checkout at the pinned commit in $1.
checkout_pi_gen() {
	local dir=$1
	if [ ! -d "${dir}/.git" ]; then
		git clone --branch bookworm "${PI_GEN_URL}" "${dir}"
	fi
	if ! git -C "${dir}" cat-file -e "${PI_GEN_COMMIT}^{commit}" 2>/dev/null; then
		git -C "${dir}" fetch origin bookworm
	fi
	git -C "${dir}" checkout --quiet --detach "${PI_GEN_COMMIT}"
}

build_image() {
	if ! command -v "${DOCKER:-docker}" >/dev/null; then
		echo "pi-gen builds in a container: install Docker (or set DOCKER=podman), then run this again." >&2
		exit 1
	fi
	local pi_gen="${work_dir}/pi-gen"
	local wheel
	wheel=$(build_wheel "${work_dir}/dist")
	echo "== Wheel: ${wheel}"
	checkout_pi_gen "${pi_gen}"
	assemble_stage "${pi_gen}/stage-wallbox" "${wheel}"
	cp "${image_dir}/config" "${pi_gen}/config"
	# Only the appliance image, not Raspberry Pi OS Lite on its own as well.
	touch "${pi_gen}/stage2/SKIP_IMAGES"
	echo "== pi-gen ${PI_GEN_COMMIT} in ${pi_gen}: building (about an hour, more under emulation)"
	(cd "${pi_gen}" && ./build-docker.sh)
	local images=("${pi_gen}"/deploy/*wallbox*.img.xz)
	if [ ! -f "${images[0]}" ]; then
		echo "pi-gen finished without an image: see ${pi_gen}/deploy/build-docker.log." >&2
		exit 1
	fi
	echo "== Image: ${images[-1]}"
	echo "   Flash it with Raspberry Pi Imager (Use custom), set Wi-Fi and user in its OS"
	echo "   customisation, then edit wallbox.toml on the card's boot partition."
}

case "${1:-debian}" in
	debian)
		exec "${image_dir}/debian/build-debian.sh"
		;;
	pigen|image)
		build_image
		;;
	wheel)
		[ $# -eq 2 ] || { echo "usage: image/build.sh wheel DIR" >&2; exit 2; }
		build_wheel "$2"
		;;
	stage)
		[ $# -eq 3 ] || { echo "usage: image/build.sh stage DIR WHEEL" >&2; exit 2; }
		assemble_stage "$2" "$3"
		;;
	*)
		echo "usage: image/build.sh [debian | pigen | wheel DIR | stage DIR WHEEL]" >&2
		exit 2
		;;
esac
