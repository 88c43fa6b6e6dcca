#!/usr/bin/env bash
# mmdebstrap customize hook of `image/build.sh debian`: the Debian base system around the
# appliance (host name, mounts, console, initramfs). Runs on the build computer with the root
# file system's path as $1; commands inside it run emulated (qemu-user through binfmt_misc).
# The appliance itself is installed afterwards by the stage shared with pi-gen (stage-wallbox/).
set -euo pipefail
root=${1:?usage: base-customize.sh ROOTFS_DIR}

echo wallbox > "${root}/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\twallbox\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	> "${root}/etc/hosts"

# noatime and a 10-minute ext4 commit interval: reading files must not write to the card, and
# what little the appliance writes (mode, sessions) is not flushed every 5 s.
cat > "${root}/etc/fstab" <<'FSTAB'
LABEL=rootfs  /              ext4  defaults,noatime,commit=600  0  1
LABEL=BOOT    /boot/firmware vfat  defaults,noatime,umask=0022  0  2
tmpfs         /tmp           tmpfs mode=1777,size=64M  0  0
FSTAB

# raspi-firmware writes cmdline.txt from this. In a chroot CONSOLES=auto finds only tty0; the Pi
# Zero W's header UART is the mini UART, ttyS1 (Bluetooth has the PL011). The serial console comes
# last so that it is /dev/console, where boot messages and failed units show.
cat > "${root}/etc/default/raspi-firmware" <<'RASPI'
ROOTPART=LABEL=rootfs
CONSOLES="tty0 ttyS1,115200"
RASPI
# (raspi-firmware writes enable_uart=1 into config.txt itself: a stable mini UART clock.)

# The initramfs needs only ext4: the SD card, the UARTs and the FAT driver are built into the
# kernel. MODULES=most makes mkinitramfs run for minutes under emulation for no gain.
sed -i 's/^MODULES=.*/MODULES=list/' "${root}/etc/initramfs-tools/initramfs.conf"
echo ext4 >> "${root}/etc/initramfs-tools/modules"

# Networking without NetworkManager: systemd-networkd asks DHCP on Wi-Fi and USB Ethernet;
# wpa_supplicant@wlan0 is started by wallbox-boot-settings when the boot partition names a network.
mkdir -p "${root}/etc/systemd/network"
cat > "${root}/etc/systemd/network/50-wallbox-dhcp.network" <<'NET'
[Match]
Name=wlan0 eth0 usb0

[Network]
DHCP=yes
NET
chroot "${root}" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "${root}" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# Undo the build-time divert, then build the initramfs once (raspi-firmware's hooks copy kernel,
# initrd, device trees, config.txt and cmdline.txt to /boot/firmware).
rm -f "${root}/usr/sbin/update-initramfs"
chroot "${root}" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
kernel=$(basename "$(ls -d "${root}"/lib/modules/*)")
chroot "${root}" update-initramfs -c -k "${kernel}"

# Each card gets its own machine id at the first boot.
: > "${root}/etc/machine-id"
rm -f "${root}/var/lib/dbus/machine-id"
