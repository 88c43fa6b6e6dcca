#!/bin/bash -e
# pi-gen, inside the image (on_chroot, emulated ARM): the service user, the Python environment,
# and the units switched on. pip fetches the wheel's dependencies from PyPI (and ARMv6 builds from
# piwheels) while the image is built: the build machine needs internet access.
set -euo pipefail

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
/opt/wallbox/bin/pip install --no-cache-dir --extra-index-url https://www.piwheels.org/simple \
	"${wheel}[pi]"
# Fails the image build here, not on the user's first boot, if the install is broken.
/opt/wallbox/bin/wallbox --help >/dev/null

systemctl enable wallbox.service
