#!/bin/bash -e
# Inside the image (pi-gen's on_chroot, or chroot in the Debian build; emulated ARM): the service
# user, the Python environment, the command on the PATH and the units switched on. pi-gen: pip
# fetches the wheel's dependencies from PyPI (and ARMv6 builds from piwheels). Debian build: they
# came as wheels in /var/cache/wallbox/wheels, and the compiled ones from Debian.
set -euo pipefail

# Raspberry Pi OS has the device groups already; Debian does not (60-wallbox-gpio-spi.rules uses them).
for group in spi gpio; do
	getent group "${group}" >/dev/null || addgroup --system "${group}"
done

# The service's own user, no login, no home; in the groups that own the RS-485 adapter (dialout),
# the LCD's SPI bus (spi) and the GPIO lines (gpio). stage2 created spi and gpio.
if ! id wallbox >/dev/null 2>&1; then
	adduser --system --group --home /var/lib/wallbox --no-create-home wallbox
fi
for group in dialout spi gpio; do
	adduser wallbox "${group}"
done

# A venv that also sees Debian's numpy, Pillow, spidev and RPi.GPIO (rpi-lgpio).
python3 -m venv --system-site-packages /opt/wallbox
wheel=$(ls /var/cache/wallbox/wallbox_appliance-*.whl)
if [ -d /var/cache/wallbox/wheels ]; then
	# No index: exactly these wheels. --no-deps, because Debian's Pillow (9.4) is older than the
	# wheel asks for; the appliance's service needs nothing newer (checked by the boot test).
	/opt/wallbox/bin/pip install --no-cache-dir --no-index --no-deps /var/cache/wallbox/wheels/*.whl "${wheel}"
else
	/opt/wallbox/bin/pip install --no-cache-dir --extra-index-url https://www.piwheels.org/simple \
		"${wheel}[pi]"
fi
# Fails the image build here, not on the user's first boot, if the install is broken.
/opt/wallbox/bin/wallbox --help >/dev/null

# The command on everybody's PATH: `wallbox status` and friends without knowing about the venv.
ln -sf /opt/wallbox/bin/wallbox /usr/local/bin/wallbox
# The login user (uid 1000: pi-gen's first user, which Imager's customisation renames; the Debian
# build's "admin") may use the control socket without sudo. wallbox-boot-settings repeats this
# at every boot, for a user created later.
login_user=$(getent passwd 1000 | cut -d: -f1)
if [ -n "${login_user}" ]; then
	adduser "${login_user}" wallbox
fi

systemctl enable wallbox.service
systemctl enable wallbox-boot-settings.service
