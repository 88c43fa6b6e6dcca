"""Where the picture goes: the LCD (st7735), a PNG file, or nowhere.

    backend = make_backend("st7735", rotation=90, invert=False)
    backend.show(render(snapshot))     # True: drawn; False: same picture as before, nothing sent
    backend.set_backlight(False)
    backend.close()

Every backend redraws only when the picture changes, so the service may call `show` as often
as it likes (each cycle and right after a button press). The st7735 library and everything it
pulls in (spidev, gpiod, gpiodevice, numpy) is imported only when the st7735 backend is made.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from PIL import Image

from display.rgb565 import to_rgb565

log = logging.getLogger(__name__)

BACKENDS = ("st7735", "png", "none")

# Options of each backend, with their defaults (the Waveshare 1.8" module on the reference wiring).
ST7735_DEFAULTS = {
    "port": 0,
    "cs": 0,
    "dc": 25,
    "rst": 27,
    "backlight": 18,
    "rotation": 90,
    "invert": True,  # the library's default; the Waveshare module may need False (check on hardware)
    "bgr": True,
    "offset_left": None,  # None: the library centres 128 columns in the controller's 132 (2)
    "offset_top": None,  # None: the library centres 160 rows in the controller's 162 (1)
    "spi_speed_hz": 4_000_000,
    "width": 128,
    "height": 160,
    "chunk_size": 4096,
}
PNG_DEFAULTS = {"png_path": "/run/wallbox/screen.png"}
# [display] settings that are not for the panel itself; accepted and ignored here.
_SERVICE_OPTIONS = {"backend", "backlight_timeout_s"}


class NoBackend:
    """No screen: pictures are accepted and dropped (a headless box, or tests of the service)."""

    name = "none"

    def __init__(self) -> None:
        self.backlight_on = True

    def show(self, image: Image.Image) -> bool:
        return False

    def set_backlight(self, on: bool) -> None:
        self.backlight_on = bool(on)

    def close(self) -> None:
        pass


class PngBackend:
    """Writes each new picture to `png_path`, atomically: a reader (a web page, the demo, a
    person with an image viewer) never sees a half-written file."""

    name = "png"

    def __init__(self, png_path: str | os.PathLike = PNG_DEFAULTS["png_path"]) -> None:
        self.png_path = Path(png_path)
        self.backlight_on = True
        self._last: bytes | None = None
        try:
            self.png_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RuntimeError(
                f"The screen picture cannot be written to {self.png_path}: {error.strerror}. "
                f"Set [display] png_path to a file in a writable folder."
            ) from error

    def show(self, image: Image.Image) -> bool:
        pixels = image.convert("RGB").tobytes()
        if pixels == self._last:
            return False
        fd, tmp_name = tempfile.mkstemp(prefix=".screen-", suffix=".png", dir=self.png_path.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                image.save(tmp, format="PNG")
            os.replace(tmp_name, self.png_path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
        self._last = pixels
        return True

    def set_backlight(self, on: bool) -> None:
        self.backlight_on = bool(on)

    def close(self) -> None:
        pass


class St7735Backend:
    """The 1.8" 160x128 LCD (ST7735S) on SPI, driven by Pimoroni's st7735 library.

    The library sets the panel up (reset, init sequence, window). Frames bypass its slow
    conversion (a Python list per frame): they are packed to RGB565 bytes here and sent through
    its data path in chunks.
    """

    name = "st7735"

    def __init__(self, **options) -> None:
        settings = dict(ST7735_DEFAULTS)
        settings.update(options)
        self.rotation = int(settings["rotation"])
        if self.rotation % 360 not in (0, 90, 180, 270):
            raise ValueError(f"[display] rotation is {self.rotation}; it must be 0, 90, 180 or 270.")
        self.chunk_size = int(settings["chunk_size"])
        try:
            import st7735
        except ImportError as error:
            raise RuntimeError(
                f"The st7735 display backend cannot start: {error}. Install the Pi extras "
                f"(pip install st7735 gpiodevice spidev) or set [display] backend = \"png\"."
            ) from error
        try:
            self._panel = st7735.ST7735(
                port=settings["port"],
                cs=settings["cs"],
                dc=settings["dc"],
                backlight=settings["backlight"],
                rst=settings["rst"],
                width=settings["width"],
                height=settings["height"],
                rotation=self.rotation,
                offset_left=settings["offset_left"],
                offset_top=settings["offset_top"],
                invert=bool(settings["invert"]),
                bgr=bool(settings["bgr"]),
                spi_speed_hz=int(settings["spi_speed_hz"]),
            )
        except FileNotFoundError as error:
            raise RuntimeError(
                f"The LCD's SPI device is missing ({error}). Enable SPI: add dtparam=spi=on to "
                f"/boot/firmware/config.txt (or run raspi-config nonint do_spi 0) and reboot."
            ) from error
        self._last: bytes | None = None
        self.backlight_on = True

    @property
    def size(self) -> tuple[int, int]:
        """The picture size `show` takes (width, height), after the mounting rotation."""
        return (self._panel.width, self._panel.height)

    def show(self, image: Image.Image) -> bool:
        if image.size != self.size:
            raise ValueError(f"The LCD takes {self.size[0]}x{self.size[1]} pictures, not {image.width}x{image.height}.")
        frame = to_rgb565(image, self.rotation)
        if frame == self._last:
            return False
        self._panel.set_window()
        for start in range(0, len(frame), self.chunk_size):
            self._panel.data(frame[start:start + self.chunk_size])
        self._last = frame
        return True

    def set_backlight(self, on: bool) -> None:
        self._panel.set_backlight(bool(on))
        self.backlight_on = bool(on)

    def close(self) -> None:
        # A frozen last picture would claim a state that no longer holds: blank the panel.
        try:
            self._panel.set_backlight(False)
            self._panel.display_off()
        except OSError as error:
            log.warning("The LCD could not be switched off on the way out: %s.", error)


def make_backend(name: str, **options):
    """The panel backend `name` ("st7735", "png" or "none") with its options.

    Options of other backends (all keys of the [display] settings may be passed) are ignored;
    names no backend knows are an error, so a typo does not go unnoticed.
    """
    known = set(ST7735_DEFAULTS) | set(PNG_DEFAULTS) | _SERVICE_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"Unknown display option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    if name == "none":
        return NoBackend()
    if name == "png":
        return PngBackend(options.get("png_path", PNG_DEFAULTS["png_path"]))
    if name == "st7735":
        return St7735Backend(**{k: v for k, v in options.items() if k in ST7735_DEFAULTS})
    raise ValueError(f"[display] backend is {name!r}; it must be one of {', '.join(BACKENDS)}.")


__all__ = ["make_backend", "NoBackend", "PngBackend", "St7735Backend", "BACKENDS"]
