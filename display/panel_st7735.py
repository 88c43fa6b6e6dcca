"""The ST7735S controller on SPI: set up, windows and pixels, with spidev and gpiod only.

The register values are those of the common 1.8" 128x160 modules (frame rate, power, gamma),
as the ST7735S datasheet describes them. spidev, gpiod and gpiodevice are imported only when a
panel is made, so the rest of display/ runs where they are missing.
"""

from __future__ import annotations

import time

SWRESET, SLPOUT, NORON, INVOFF, INVON, DISPOFF, DISPON = 0x01, 0x11, 0x13, 0x20, 0x21, 0x28, 0x29
CASET, RASET, RAMWR, MADCTL, COLMOD = 0x2A, 0x2B, 0x2C, 0x36, 0x3A

# The controller's memory is 132 columns by 162 rows; the glass shows 128 x 160 of it.
CONTROLLER_COLS, CONTROLLER_ROWS = 132, 162

# (command, parameters) after the wake-up, before the inversion and colour settings.
_POWER_AND_FRAME_RATE = (
    (0xB1, bytes([0x01, 0x2C, 0x2D])),                      # FRMCTR1: frame rate, normal mode
    (0xB2, bytes([0x01, 0x2C, 0x2D])),                      # FRMCTR2: idle mode
    (0xB3, bytes([0x01, 0x2C, 0x2D, 0x01, 0x2C, 0x2D])),    # FRMCTR3: partial mode
    (0xB4, bytes([0x07])),                                  # INVCTR: no line inversion
    (0xC0, bytes([0xA2, 0x02, 0x84])),                      # PWCTR1: -4.6 V, auto
    (0xC1, bytes([0x0A, 0x00])),                            # PWCTR2
    (0xC3, bytes([0x8A, 0x2A])),                            # PWCTR4
    (0xC4, bytes([0x8A, 0xEE])),                            # PWCTR5
    (0xC5, bytes([0x0E])),                                  # VMCTR1
)
_GAMMA = (
    (0xE0, bytes([0x02, 0x1C, 0x07, 0x12, 0x37, 0x32, 0x29, 0x2D,
                  0x29, 0x25, 0x2B, 0x39, 0x00, 0x01, 0x03, 0x10])),   # GMCTRP1
    (0xE1, bytes([0x03, 0x1D, 0x07, 0x06, 0x2E, 0x2C, 0x29, 0x2D,
                  0x2E, 0x2E, 0x37, 0x3F, 0x00, 0x00, 0x02, 0x10])),   # GMCTRN1
)

# Waits the datasheet asks for (reset pulse, 120 ms after reset and after sleep-out), with margin.
_RESET_PULSE_S = 0.05
_AFTER_RESET_S = 0.15
_AFTER_SLEEP_OUT_S = 0.15
_AFTER_DISPLAY_ON_S = 0.1

# Tests replace this: the fake panel needs no waiting.
sleep = time.sleep


class St7735Panel:
    """One ST7735S: `write_window` sends pixels for a rectangle given in the panel's own
    (portrait, 128 x 160) coordinates, right and bottom exclusive."""

    def __init__(self, settings: dict) -> None:
        try:
            import gpiod
            import gpiodevice
            import spidev
            from gpiod.line import Direction, Value
        except ImportError as error:
            raise RuntimeError(
                f"The st7735 display backend cannot start: {error}. Install the Pi extras "
                f"(pip install gpiodevice spidev) or set [display] backend = \"png\"."
            ) from error
        self._value = Value
        width, height = int(settings["width"]), int(settings["height"])
        left, top = settings["offset_left"], settings["offset_top"]
        self.offset_left = (CONTROLLER_COLS - width) // 2 if left is None else int(left)
        self.offset_top = (CONTROLLER_ROWS - height) // 2 if top is None else int(top)
        self.width, self.height = width, height
        try:
            self._spi = spidev.SpiDev(int(settings["port"]), int(settings["cs"]))
        except FileNotFoundError as error:
            raise RuntimeError(
                f"The LCD's SPI device is missing ({error}). Enable SPI: add dtparam=spi=on to "
                f"/boot/firmware/config.txt (or run raspi-config nonint do_spi 0) and reboot."
            ) from error
        self._spi.mode = 0
        self._spi.lsbfirst = False
        self._spi.max_speed_hz = int(settings["spi_speed_hz"])
        off = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)
        self._dc = gpiodevice.get_pin(settings["dc"], "st7735-dc", off)
        self._backlight = None if settings["backlight"] is None else gpiodevice.get_pin(settings["backlight"], "st7735-bl", off)
        self._reset = None if settings["rst"] is None else gpiodevice.get_pin(settings["rst"], "st7735-rst", off)
        self._dc_level: bool | None = None
        self.set_backlight(False)
        self._wake(bool(settings["invert"]), bool(settings["bgr"]))
        self.set_backlight(True)

    def _pin(self, pin, on: bool) -> None:
        lines, offset = pin
        lines.set_value(offset, self._value.ACTIVE if on else self._value.INACTIVE)

    def _wake(self, invert: bool, bgr: bool) -> None:
        if self._reset is not None:
            self._pin(self._reset, True)
            self._pin(self._reset, False)
            sleep(_RESET_PULSE_S)
            self._pin(self._reset, True)
            sleep(_AFTER_RESET_S)
        self.command(SWRESET)
        sleep(_AFTER_RESET_S)
        self.command(SLPOUT)
        sleep(_AFTER_SLEEP_OUT_S)
        for command, params in _POWER_AND_FRAME_RATE:
            self.command(command, params)
        self.command(INVON if invert else INVOFF)
        self.command(MADCTL, bytes([0xC8 if bgr else 0xC0]))  # row/column order; colour order
        self.command(COLMOD, bytes([0x05]))                   # 16 bits a pixel
        self._window(0, 0, self.width, self.height)
        for command, params in _GAMMA:
            self.command(command, params)
        self.command(NORON)
        self.command(DISPON)
        sleep(_AFTER_DISPLAY_ON_S)

    def _send(self, data: bytes, is_data: bool, chunk_size: int = 4096) -> None:
        if self._dc_level is not is_data:
            self._pin(self._dc, is_data)
            self._dc_level = is_data
        for start in range(0, len(data), chunk_size):
            self._spi.writebytes2(data[start:start + chunk_size])

    def command(self, command: int, params: bytes = b"") -> None:
        self._send(bytes([command]), False)
        if params:
            self._send(params, True)

    def _window(self, left: int, top: int, right: int, bottom: int) -> None:
        x0, x1 = left + self.offset_left, right - 1 + self.offset_left
        y0, y1 = top + self.offset_top, bottom - 1 + self.offset_top
        self.command(CASET, bytes([x0 >> 8, x0 & 0xFF, x1 >> 8, x1 & 0xFF]))
        self.command(RASET, bytes([y0 >> 8, y0 & 0xFF, y1 >> 8, y1 & 0xFF]))

    def write_window(self, box: tuple[int, int, int, int], pixels: bytes, chunk_size: int = 4096) -> None:
        """Pixels (RGB565, 2 bytes each, rows of the box top to bottom) into the rectangle `box`."""
        self._window(*box)
        self.command(RAMWR)
        self._send(pixels, True, chunk_size)

    def set_backlight(self, on: bool) -> None:
        if self._backlight is not None:
            self._pin(self._backlight, on)
